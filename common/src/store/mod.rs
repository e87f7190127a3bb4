//! The `ReadingStore` trait (the storage seam) and its backends: `sqlite` (embedded default) and `dynamodb`.

use crate::time::EpochSeconds;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::TryStreamExt;

use crate::query::Query;
use crate::reading::Reading;

pub mod dynamodb;
pub mod instrumented;
pub mod merge;
pub mod sqlite;

/// The embedded store's location when none is given.
pub const DEFAULT_STORE_URL: &str = crate::defaults::EMBEDDED_URL;

/// One page of a query's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Matching readings, in answer order.
    pub readings: Vec<Reading>,
    /// How many stored items the backend examined to produce this page, when the backend can tell (DynamoDB's
    /// `ScannedCount`); `None` otherwise. Lets tests prove that a query reads its answer, not the table.
    pub scanned: Option<u64>,
}

/// A page of a readings answer that the store encoded itself (see [`ReadingStore::encoded_rows`]): its bytes,
/// and how many rows they hold (for the metrics every query reports).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedPage {
    pub bytes: bytes::Bytes,
    pub rows: u64,
}

/// Encoded pages, as the consumer pulls them.
pub type EncodedStream = BoxStream<'static, Result<EncodedPage, StoreError>>;

/// A query's answer as a stream of pages. Pages are produced as the consumer pulls, so an answer of any size is
/// held at most a page or two at a time, never whole and never twice.
pub type PageStream = BoxStream<'static, Result<Page, StoreError>>;

/// Storage for readings.
///
/// Contract, the same for every backend (the conformance suite holds each to it):
/// - A reading's identity is (`sensor_id`, `timestamp`). [`upsert`](Self::upsert) inserts or replaces by that
///   key, so writing the same readings twice leaves the store as after the first write (idempotent ingest), and a
///   later write of the same key wins.
/// - [`query`](Self::query) yields exactly the readings for which [`Query::matches`] is true, ordered by
///   (`timestamp`, `sensor_id`), in pages of at most `page_size` readings (a page may be smaller, or empty, when
///   the backend's own paging says so). Values round-trip exactly: what `query` returns equals what was written.
/// - The work a query does is proportional to the readings in its time window (and country, when given), not to
///   the size of the store; a query naming reading ids, sensors or locations does work in proportion to those
///   keys' readings in its window, not the window's.
/// - [`count`](Self::count) is the exact number of stored readings.
/// - Errors are [`StoreError`]s; [`StoreError::is_transient`] tells a caller whether trying again may succeed.
#[async_trait]
pub trait ReadingStore: Send + Sync + 'static {
    /// Inserts or replaces readings; returns how many were written. Any batch size is accepted; backends split it
    /// as they need. On error, some of the readings may have been written (a retry is safe: upsert is idempotent).
    async fn upsert(&self, readings: &[Reading]) -> Result<u64, StoreError>;

    /// Streams the answer to `query` in pages of at most `page_size` (values below 1 mean 1).
    fn query(&self, query: &Query, page_size: usize) -> PageStream;

    /// The exact number of stored readings.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Checks that the store is reachable and usable (for readiness probes).
    async fn check(&self) -> Result<(), StoreError>;

    /// What `/api/status` says about the data: readings stored (exact, or the backend's cheap approximation)
    /// and the oldest and newest reading's time. Cheap enough for a status page read every few seconds
    /// (callers cache it briefly).
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// A number that every write makes larger (issue 13): answers cached or tagged at one version are the
    /// answers at that version, so a new version retires them. Cheap: one small row or item.
    async fn data_version(&self) -> Result<u64, StoreError>;

    /// The rows of a readings answer already encoded by `encoder` (which has written no row yet), page by page,
    /// when the backend can encode straight from its own rows without building a [`Reading`] per row; `None`
    /// (the default) lets the caller encode [`query`](Self::query)'s pages. Rows only: the caller writes the
    /// answer's start and end. Must produce the same bytes as encoding `query`'s readings.
    fn encoded_rows(
        &self,
        _query: &Query,
        _encoder: crate::answer::Encoder,
        _page_size: usize,
    ) -> Option<EncodedStream> {
        None
    }

    /// The newest reading's time, cheaply (an index's end): where `/api/latest`'s default window ends. The
    /// default reads [`stats`](Self::stats); backends whose count is not free override it.
    async fn newest(&self) -> Result<Option<EpochSeconds>, StoreError> {
        Ok(self.stats().await?.newest)
    }

    /// Records an ingest run's outcome (the master, after every run), for `/api/status` on every gateway.
    async fn note_ingest(&self, note: &IngestNote) -> Result<(), StoreError>;

    /// The last ingest run noted, and the last one that completed without damage.
    async fn ingest_notes(&self) -> Result<IngestNotes, StoreError>;

    /// A short description for logs: backend and location, never credentials.
    fn describe(&self) -> String;
}

/// The data a store holds, in brief.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    pub readings: u64,
    /// Whether `readings` is the backend's approximation (DynamoDB's item count, refreshed about every six
    /// hours) rather than an exact count.
    pub approximate: bool,
    /// Oldest and newest reading's time (epoch seconds); `None` for an empty store.
    pub oldest: Option<EpochSeconds>,
    pub newest: Option<EpochSeconds>,
}

/// One ingest run, as the master notes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IngestNote {
    /// When the run ended (ms since the epoch).
    pub finished_ms: i64,
    /// No damage, not interrupted.
    pub complete: bool,
    /// The run's summary, as `airq-master ingest --json` prints it.
    pub summary: serde_json::Value,
}

/// The runs `/api/status` shows.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct IngestNotes {
    pub last: Option<IngestNote>,
    pub last_complete: Option<IngestNote>,
}

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("sqlite connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("opening the SQLite file: {0}")]
    Open(#[from] crate::sqlite_pool::PoolError),
    #[error("could not prepare the store at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("dynamodb {operation} on table {table}: {message}")]
    DynamoDb {
        operation: &'static str,
        table: String,
        message: String,
        /// Throttling, a 5xx, a timeout: trying again may succeed.
        transient: bool,
    },
    #[error("stored item is not a valid reading: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Identity(String),
    #[error(
        "there is no airq store at {path}: if this is the first run, pass --create to make one; otherwise the \
         store was moved or the path is wrong (a new, empty store here would hide every reading)"
    )]
    Missing { path: String },
    #[error("store task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// Whether trying the same operation again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            StoreError::Pool(_) | StoreError::Task(_) => true,
            StoreError::Open(e) => e.is_transient(),
            StoreError::DynamoDb { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Whether the store itself is out of order (busy, unreachable, its file damaged, removed or replaced)
    /// rather than the request being wrong: a client should be told the service is unavailable (503) and try
    /// again, and a load balancer should take the instance out, never answer it 500 for what is an outage.
    pub fn is_unavailable(&self) -> bool {
        self.is_transient()
            || matches!(self, StoreError::Identity(_))
            || matches!(
                self,
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseCorrupt
                        | rusqlite::ErrorCode::NotADatabase
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::ReadOnly
                )
            )
    }
}

/// Whether opening a store may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// Create a missing SQLite file (a first run: `airq-master ingest --create`, `--standalone`, tests).
    IfMissing,
    /// A missing SQLite file is [`StoreError::Missing`]: the store is expected to be there, and creating an
    /// empty one at the path would split the deployment (processes on the old file, others on a new one).
    Never,
}

/// Checks, before anything opens it, that the store at `url` exists when `creation` says it must. Only SQLite
/// files are checked: a DynamoDB table is provisioned by `airq-deploy up` (or created on first use, as
/// before), and a deleted table fails every request loudly rather than splitting anything.
pub fn check_exists(url: &str, creation: Creation) -> Result<(), StoreError> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Ok(());
    };
    if creation == Creation::IfMissing || path == ":memory:" || std::path::Path::new(path).exists()
    {
        return Ok(());
    }
    Err(StoreError::Missing {
        path: path.to_string(),
    })
}

/// Opens a store by URL, creating a missing one only if `creation` allows (see [`check_exists`]).
pub async fn open_store_as(
    url: &str,
    creation: Creation,
) -> Result<Arc<dyn ReadingStore>, StoreError> {
    check_exists(url, creation)?;
    open_store(url).await
}

/// Opens a store by URL: `sqlite://PATH` (created on first use) or `dynamodb://TABLE` (AWS default credential
/// chain and region; `AWS_ENDPOINT_URL` honoured).
pub async fn open_store(url: &str) -> Result<Arc<dyn ReadingStore>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = sqlite::SqliteStore::open(path)?;
        return Ok(Arc::new(instrumented::Instrumented::new(
            Arc::new(store),
            "sqlite",
        )));
    }
    if let Some(table) = url.strip_prefix("dynamodb://") {
        let config = crate::aws::sdk_config().await;
        let store = dynamodb::DynamoStore::new(&config, table, dynamodb::WriteOptions::default())?;
        // Create the table on first use (idempotent), so a fresh account needs no separate setup step.
        store.ensure_table().await?;
        return Ok(Arc::new(instrumented::Instrumented::new(
            Arc::new(store),
            "dynamodb",
        )));
    }
    Err(StoreError::InvalidUrl {
        url: url.to_string(),
        reason: "expected sqlite://PATH or dynamodb://TABLE".into(),
    })
}

/// Collects a whole answer (tests, and callers that need it all anyway).
pub async fn collect(pages: PageStream) -> Result<Vec<Reading>, StoreError> {
    pages
        .try_fold(Vec::new(), |mut all, page| async move {
            all.extend(page.readings);
            Ok(all)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    /// A damaged or vanished database is an outage (503), not a server bug (500): before, a corrupted file
    /// answered 500 "internal error" (issue 10, finding 8).
    #[test]
    fn a_damaged_or_missing_database_is_unavailable_not_internal() {
        for code in [
            rusqlite::ffi::SQLITE_CORRUPT,
            rusqlite::ffi::SQLITE_NOTADB,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_BUSY,
        ] {
            assert!(sqlite(code).is_unavailable(), "code {code}");
        }
        assert!(StoreError::Identity("moved".into()).is_unavailable());
        assert!(
            !sqlite(rusqlite::ffi::SQLITE_CORRUPT).is_transient(),
            "not retried blindly"
        );
        assert!(!sqlite(rusqlite::ffi::SQLITE_MISUSE).is_unavailable());
        assert!(!StoreError::Corrupt("a bad band".into()).is_unavailable());
    }
}

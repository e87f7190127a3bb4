//! The `ResultStore` trait (where queued answers live) and its backends: `sqlite` (the embedded default, in the
//! same file as the readings) and `aws` (job records in DynamoDB, answer parts in S3).
//!
//! Why a store and not a gateway's memory: clients poll `/results/<id>` on *any* gateway of a deployment (a load
//! balancer without stickiness), and a gateway may die or restart at any moment. So every job has a durable
//! record from the moment a gateway accepts it (202) until its answer expires, every gateway reads the same
//! record, and workers write answers straight into the store as they are encoded, part by part, so that no
//! process ever holds a whole answer and no queue message is ever the only copy of one.
//!
//! Time is wall-clock milliseconds ([`now_ms`](crate::protocol::now_ms)), which every process of a deployment
//! agrees on. Deadlines and expiry are applied when a record is read, so every gateway gives the same answer at
//! the same moment whatever the sweeper has done yet; the sweeper only makes them permanent and frees space.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use uuid::Uuid;

use crate::protocol::FailReason;

pub mod answer;
pub mod aws;
pub mod record;
pub mod sqlite;

/// How long an id that expired, was evicted or was cancelled keeps answering `410 Gone` before it is forgotten
/// (and answers `404` like an id never issued).
pub const REMEMBER_GONE: Duration = Duration::from_secs(24 * 3600);
/// How often a worker marks itself seen.
pub const SEEN_EVERY: Duration = Duration::from_secs(30);
/// A member not seen for this long is forgotten.
pub const FORGET_MEMBERS: Duration = Duration::from_secs(24 * 3600);

/// Default bytes of stored (compressed) answers kept at most by the embedded store.
pub const DEFAULT_BUDGET: u64 = 1 << 30;
/// Default compressed size of one answer part: small enough that a reader holds little, large enough that a big
/// answer is a few hundred parts (and that one S3 object per part is cheap).
pub const DEFAULT_PART_BYTES: usize = 256 * 1024;

/// A job as a gateway registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: Uuid,
    /// When the gateway accepted it.
    pub submitted_ms: i64,
    /// After this, a job with no answer is failed with [`FailReason::Timeout`].
    pub deadline_ms: i64,
    /// How long the answer stays fetchable once the job has finished.
    pub ttl: Duration,
    /// The API key's name that created it, when the gateway requires keys: only that key may read or cancel it.
    pub owner: Option<String>,
    /// The answer's format, so any gateway serves it with its media type.
    pub format: crate::answer::Format,
}

/// Where a finished answer is: `parts` gzip parts written by attempt `attempt` (the parts concatenated are one
/// gzip stream of the CSV), or inline in the record for a small answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub attempt: Uuid,
    pub parts: u32,
    /// Bytes of the CSV (uncompressed).
    pub csv_bytes: u64,
    /// Bytes stored (compressed).
    pub stored_bytes: u64,
    /// The whole compressed answer, when the backend keeps small answers in the record itself.
    pub inline: Option<Bytes>,
    /// The format the job asked for (CSV for a record written before jobs had formats).
    pub format: crate::answer::Format,
}

/// Why a job failed, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailReason,
    pub message: String,
    /// The query field at fault, for [`FailReason::InvalidQuery`].
    pub field: Option<String>,
}

/// Why an id answers `410 Gone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneReason {
    Expired,
    Evicted,
    Cancelled,
}

impl GoneReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GoneReason::Expired => "expired",
            GoneReason::Evicted => "evicted",
            GoneReason::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> GoneReason {
        match text {
            "evicted" => GoneReason::Evicted,
            "cancelled" => GoneReason::Cancelled,
            _ => GoneReason::Expired,
        }
    }
}

/// What an id is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Done(Answer),
    Failed(Failure),
    Gone(GoneReason),
    /// Never issued, or forgotten [`REMEMBER_GONE`] after it went.
    Unknown,
}

impl JobStatus {
    /// Whether the job may still change (a worker may yet answer it).
    pub fn is_pending(&self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// How a job ended, as a worker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The answer: `parts` parts already written with [`ResultStore::put_part`] under `attempt`, or (when
    /// `inline` is given, and then `parts == 1`) the whole compressed answer handed over with the outcome.
    Done(Answer),
    Failed(Failure),
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub timed_out: u64,
    pub expired: u64,
    pub evicted: u64,
    pub forgotten: u64,
    /// Parts removed: those of expired answers and those of abandoned attempts (a worker that died mid-stream).
    pub parts_removed: u64,
}

/// Stored answers, for metrics and the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub answers: u64,
    pub stored_bytes: u64,
}

/// The shared, durable record of every queued job and its answer.
///
/// Contract, the same for every backend (the conformance suite holds each to it):
/// - [`create`](Self::create) records a job as queued, durably, before the gateway answers 202. Creating an id
///   twice is an error ([`ResultError::Exists`]).
/// - [`status`](Self::status) is the same from every handle on the store (every gateway). A pending job past its
///   deadline reads `Failed(Timeout)`; a finished one past `finished + ttl` reads `Gone(Expired)`, whether or not
///   a sweep has run. Ids never issued read `Unknown`.
/// - [`owner`](Self::owner) is the owner given at creation, from every handle, for as long as the id is known.
/// - [`start`](Self::start) moves a queued job to running and returns its status after the call; a worker goes
///   on only while that is pending.
/// - [`put_part`](Self::put_part) stores part `n` of attempt `attempt`'s answer; writing a part again replaces it.
///   Parts of an attempt that never finishes are invisible to readers and removed by a sweep.
/// - [`finish`](Self::finish) records the outcome if the job is still pending and before its deadline, and
///   returns whether it did: the first finish wins, a duplicate delivery's later finish changes nothing.
///   A `Done` answer larger than [`max_answer_bytes`](Self::max_answer_bytes) is refused with
///   [`ResultError::TooLarge`]. Within a budget, storing an answer may evict others: answers already fetched go
///   first (oldest first), answers nobody has fetched only when the budget cannot be met otherwise.
/// - [`read_part`](Self::read_part) returns a stored part of a finished answer.
/// - [`fetched`](Self::fetched) notes that a client has read the answer (eviction prefers such answers).
/// - [`cancel`](Self::cancel) makes a known id `Gone(Cancelled)` and returns whether the id was known.
/// - [`seen`](Self::seen) and [`members`](Self::members): a member seen again replaces its time; every handle
///   lists the same members; members not seen for [`FORGET_MEMBERS`] may be dropped.
/// - [`sweep`](Self::sweep) makes timeouts and expiry permanent, removes the parts of expired answers and of
///   abandoned attempts, and forgets ids gone for longer than [`REMEMBER_GONE`]. Any number of sweepers may run.
#[async_trait]
pub trait ResultStore: Send + Sync + 'static {
    async fn create(&self, job: &NewJob) -> Result<(), ResultError>;
    async fn status(&self, id: Uuid) -> Result<JobStatus, ResultError>;
    /// The owner recorded at [`create`](Self::create); `None` for a job without one or an id not known.
    async fn owner(&self, id: Uuid) -> Result<Option<String>, ResultError>;
    async fn start(&self, id: Uuid) -> Result<JobStatus, ResultError>;
    async fn put_part(
        &self,
        id: Uuid,
        attempt: Uuid,
        n: u32,
        data: Bytes,
    ) -> Result<(), ResultError>;
    async fn finish(&self, id: Uuid, outcome: Outcome) -> Result<bool, ResultError>;
    async fn read_part(&self, id: Uuid, attempt: Uuid, n: u32) -> Result<Bytes, ResultError>;
    async fn fetched(&self, id: Uuid) -> Result<(), ResultError>;
    async fn cancel(&self, id: Uuid) -> Result<bool, ResultError>;
    async fn sweep(&self) -> Result<SweepReport, ResultError>;
    async fn usage(&self) -> Result<Usage, ResultError>;
    /// Checks that the backend is reachable (readiness probes).
    async fn check(&self) -> Result<(), ResultError>;
    /// Notes that worker `member` is alive now (each worker, every [`SEEN_EVERY`]), for `/api/status`.
    async fn seen(&self, member: &str) -> Result<(), ResultError>;
    /// Workers seen at or after `since_ms`, with when each was last seen, newest first.
    async fn members(&self, since_ms: i64) -> Result<Vec<(String, i64)>, ResultError>;
    /// The largest compressed answer accepted; a worker stops encoding once an answer passes it.
    fn max_answer_bytes(&self) -> u64;
    /// The compressed size of one part that suits this backend.
    fn part_bytes(&self) -> usize;
    /// A short description for logs: backend and location, never credentials.
    fn describe(&self) -> String;
}

/// Limits of a result store.
#[derive(Debug, Clone, Copy)]
pub struct ResultOptions {
    /// Stored (compressed) bytes kept at most, where the backend enforces a budget (the embedded store; S3 has
    /// no practical limit, so the AWS backend relies on expiry alone). One answer may use all of it.
    pub budget: u64,
    pub part_bytes: usize,
}

impl Default for ResultOptions {
    fn default() -> Self {
        ResultOptions {
            budget: DEFAULT_BUDGET,
            part_bytes: DEFAULT_PART_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("invalid result store URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("job {0} exists already")]
    Exists(Uuid),
    #[error("the answer ({size} bytes compressed) is larger than the {limit} bytes allowed for one answer")]
    TooLarge { size: u64, limit: u64 },
    #[error("part {part} of job {id} is missing")]
    MissingPart { id: Uuid, part: u32 },
    #[error("stored result record is not valid: {0}")]
    Corrupt(String),
    #[error("sqlite result store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("opening the SQLite file: {0}")]
    Open(#[from] crate::sqlite_pool::PoolError),
    #[error("sqlite connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("{service} {operation} on {resource}: {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        resource: String,
        message: String,
        transient: bool,
    },
    #[error("result store task failed: {0}")]
    Task(String),
}

impl ResultError {
    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ResultError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            ResultError::Store(e) => e.is_transient(),
            ResultError::Open(e) => e.is_transient(),
            ResultError::Pool(_) => true,
            ResultError::Aws { transient, .. } => *transient,
            ResultError::Task(_) => true,
            _ => false,
        }
    }
}

/// Opens a result store by URL: `sqlite://PATH` (tables in that file, created on first use) or
/// `dynamodb://TABLE?bucket=BUCKET` (job records in the DynamoDB table, answer parts in the S3 bucket; both
/// created on first use when missing, as `airq-deploy` would).
pub async fn open_results(
    url: &str,
    options: ResultOptions,
) -> Result<Arc<dyn ResultStore>, ResultError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Arc::new(sqlite::SqliteResults::open(path, options)?));
    }
    if let Some(rest) = url.strip_prefix("dynamodb://") {
        let invalid = |reason: &str| ResultError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (table, query) = rest
            .split_once('?')
            .ok_or_else(|| invalid("expected dynamodb://TABLE?bucket=BUCKET"))?;
        let bucket = query
            .strip_prefix("bucket=")
            .filter(|b| !b.is_empty() && !b.contains('&'))
            .ok_or_else(|| invalid("expected dynamodb://TABLE?bucket=BUCKET"))?;
        if table.is_empty() {
            return Err(invalid("the table name is empty"));
        }
        let config = crate::aws::sdk_config().await;
        let store = aws::AwsResults::new(&config, table, bucket, options);
        store.ensure().await?;
        return Ok(Arc::new(store));
    }
    Err(ResultError::InvalidUrl {
        url: url.to_string(),
        reason: "expected sqlite://PATH or dynamodb://TABLE?bucket=BUCKET".into(),
    })
}

//! The embedded backends' shared SQLite file: path handling, connection pool and pragmas.
//!
//! Store and queue share one file (`./data/airq.db` by default) so the whole system runs from one place with
//! no setup. WAL lets readers run while a writer commits, and `busy_timeout` makes several processes on one
//! machine wait their turn instead of failing.

use std::path::Path;
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;

/// Why a database could not be opened. Its own type, so that the pool depends on no backend (each backend
/// converts it into its own error).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("invalid SQLite path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("could not prepare the database directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not open the database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("sqlite connection pool: {0}")]
    Pool(#[from] r2d2::Error),
}

impl PoolError {
    /// Whether trying again may succeed (every connection busy, a timeout).
    pub fn is_transient(&self) -> bool {
        matches!(self, PoolError::Pool(_))
    }
}

pub type SqlitePool = Pool<SqliteConnectionManager>;

/// How long a connection waits on another writer before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Page cache per connection of the reading store: index pages of a large ingest and of hot query windows stay
/// in memory (SQLite's default is 2 MiB). A process's caches fill up to pool size × this as queries touch the
/// data, so it bounds memory too: 64 MiB made a gateway's RSS climb from 59 to 200 MiB and on through a
/// 10-minute soak (8 connections × 64 MiB), while the pages it saves re-reading are in the OS page cache anyway
/// (a miss costs a pread of a cached page, microseconds).
pub const STORE_CACHE_KIB: i64 = 16 * 1024;
/// Page cache per connection of the queue and the result store: their rows are read once (a message, an answer
/// part), so caching them only costs memory. A gateway serving many large answers would otherwise keep up to the
/// whole cache of every pooled connection filled with answer pages.
pub const SMALL_CACHE_KIB: i64 = 1024;

/// Opens (creating it if needed, once) the database at `path` with a pool of up to `max_connections`, each with a page
/// cache of up to `cache_kib` KiB.
pub fn open_pool(
    path: &str,
    max_connections: u32,
    cache_kib: i64,
) -> Result<SqlitePool, PoolError> {
    if path.is_empty() {
        return Err(PoolError::InvalidPath {
            path: path.to_string(),
            reason: "the path is empty".into(),
        });
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| PoolError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    // Only this first connection may create the file. The pool opens more connections later (on demand, and to
    // keep one idle), and one opened after the file was moved away must fail (the store then reports the
    // outage) instead of creating a new, empty database at the path: a split the check could not even see
    // (found by the store-identity test on a busy machine).
    drop(
        rusqlite::Connection::open(path).map_err(|source| PoolError::Open {
            path: path.to_string(),
            source,
        })?,
    );
    let manager = SqliteConnectionManager::file(path)
        .with_flags(
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_URI
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_init(move |conn| {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "cache_size", -cache_kib)?;
            conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
            Ok(())
        });
    let pool = Pool::builder()
        .max_size(max_connections)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(30))
        .build(manager)?;
    Ok(pool)
}

/// Which file a database path names (device and inode), taken when a store opens it. A running process keeps
/// using the file it opened even after that file is moved away, deleted or replaced at its path (an operator's
/// restore, a wrong volume mounted), while every new process would open another file: the store's readiness
/// check compares the two so that the split is reported instead of served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// The identity of the file at `path`, if there is one (always `None` off Unix).
    pub fn of(path: &str) -> Option<FileIdentity> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).ok().map(|m| FileIdentity {
                dev: m.dev(),
                ino: m.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// Whether `path` still names this file; the reason when it does not.
    pub fn verify(&self, path: &str) -> Result<(), String> {
        match FileIdentity::of(path) {
            Some(now) if now == *self => Ok(()),
            Some(_) => Err(format!(
                "the database file {path} was replaced since this process opened it; restart to use the new one, \
                 or restore the old one"
            )),
            None => Err(format!(
                "the database file {path} was removed or moved since this process opened it; restore it"
            )),
        }
    }
}

//! The embedded backends' shared SQLite file: path handling, connection pool and pragmas.
//!
//! Store and queue share one file (`./data/airq.db` by default) so the whole system runs from one place with
//! no setup. WAL lets readers run while a writer commits, and `busy_timeout` makes several processes on one
//! machine wait their turn instead of failing.

use std::path::Path;
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;

use crate::store::StoreError;

pub type SqlitePool = Pool<SqliteConnectionManager>;

/// How long a connection waits on another writer before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating if needed) the database at `path` with a pool of up to `max_connections`.
pub fn open_pool(path: &str, max_connections: u32) -> Result<SqlitePool, StoreError> {
    if path.is_empty() {
        return Err(StoreError::InvalidUrl {
            url: format!("sqlite://{path}"),
            reason: "the path is empty".into(),
        });
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let manager = SqliteConnectionManager::file(path).with_init(|conn| {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // 64 MiB of page cache per connection (default 2 MiB): index pages of a large ingest stay in memory.
        conn.pragma_update(None, "cache_size", -65536)?;
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

//! The embedded reading store: one SQLite table keyed by (sensor_id, timestamp), with indexes that serve every
//! query shape in answer order (see [`select`]), so a query reads its matching rows and never sorts or scans the
//! table. A small `sensor_places` table (each sensor's distinct coordinates) turns a place filter into the
//! histories of the sensors inside it.

use async_trait::async_trait;
use futures::TryStreamExt;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::{IngestNote, IngestNotes, Page, PageStream, ReadingStore, StoreError, StoreStats};
use crate::query::Query;
use crate::reading::Reading;
use crate::sqlite_pool::{open_pool, SqlitePool};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS readings (
    sensor_id   INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    id          INTEGER,
    sensor_type TEXT    NOT NULL,
    location_id INTEGER,
    latitude    REAL,
    longitude   REAL,
    altitude    REAL,
    country     TEXT    NOT NULL,
    indoor      INTEGER,
    pm10        REAL,
    pm25        REAL,
    aqi         INTEGER NOT NULL,
    band        TEXT    NOT NULL,
    PRIMARY KEY (sensor_id, timestamp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (timestamp, sensor_id);
-- Covering (issue 13): a country's window is read from this index alone. Through a plain index each row was a
-- second search in the primary key, where a country-hour's rows are scattered (the table is ordered by sensor),
-- and those reads missed the page cache more and more as the file grew. It replaces the plain index of older
-- files; its cost is file size (measured in docs/benchmarks.md).
DROP INDEX IF EXISTS readings_by_country_time;
CREATE INDEX IF NOT EXISTS readings_by_country ON readings (country, timestamp, sensor_id, id, sensor_type,
    location_id, latitude, longitude, altitude, indoor, pm10, pm25, aqi, band);
CREATE TABLE IF NOT EXISTS data_version (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO data_version (one, version) VALUES (1, 0);
CREATE INDEX IF NOT EXISTS readings_by_location ON readings (location_id, timestamp, sensor_id)
    WHERE location_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS readings_by_id ON readings (id) WHERE id IS NOT NULL;
CREATE TABLE IF NOT EXISTS sensor_places (
    latitude  REAL    NOT NULL,
    longitude REAL    NOT NULL,
    sensor_id INTEGER NOT NULL,
    PRIMARY KEY (latitude, longitude, sensor_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ingest_notes (
    kind        TEXT PRIMARY KEY,
    finished_ms INTEGER NOT NULL,
    complete    INTEGER NOT NULL,
    summary     TEXT    NOT NULL
);
";

const UPSERT: &str = "
INSERT INTO readings (sensor_id, timestamp, id, sensor_type, location_id, latitude, longitude, altitude,
                      country, indoor, pm10, pm25, aqi, band)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (sensor_id, timestamp) DO UPDATE SET
    id = excluded.id, sensor_type = excluded.sensor_type, location_id = excluded.location_id,
    latitude = excluded.latitude, longitude = excluded.longitude, altitude = excluded.altitude,
    country = excluded.country, indoor = excluded.indoor, pm10 = excluded.pm10, pm25 = excluded.pm25,
    aqi = excluded.aqi, band = excluded.band";

const PLACE: &str =
    "INSERT OR IGNORE INTO sensor_places (latitude, longitude, sensor_id) VALUES (?1, ?2, ?3)";

/// Fills `sensor_places` from the readings of a store made before it existed (once: it is empty only then, or
/// when the store holds no coordinates at all, where this reads nothing).
const BACKFILL_PLACES: &str = "
INSERT OR IGNORE INTO sensor_places (latitude, longitude, sensor_id)
SELECT DISTINCT latitude, longitude, sensor_id FROM readings
WHERE latitude IS NOT NULL AND longitude IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM sensor_places)";

pub mod encode;
mod page;
pub mod readers;
pub mod select;
use page::read_page;
use readers::Readers;
use select::{keyed_paths, page_sql, place_sensors_sql, window_path, Access, MAX_PLACE_SENSORS};

/// Several paths' answers merged into one (at least one page's worth per path, so a sensor's history is not
/// read a handful of rows at a time).
fn paths_pages(
    pool: SqlitePool,
    readers: Readers,
    query: Query,
    paths: Vec<Access>,
    page_size: usize,
) -> PageStream {
    let per_path = (page_size / paths.len().max(1)).max(256).min(page_size);
    let inputs = paths
        .into_iter()
        .map(|access| {
            path_pages(
                pool.clone(),
                readers.clone(),
                query.clone(),
                access,
                per_path,
            )
        })
        .collect();
    super::merge::merge_ordered(inputs, page_size)
}

/// The store's pooled connections.
const CONNECTIONS: u32 = 8;

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: String,
    /// The file opened, to notice it being removed or replaced under this process.
    identity: Option<crate::sqlite_pool::FileIdentity>,
    /// The threads answers' pages are read on, one per pooled connection.
    readers: Readers,
}

impl SqliteStore {
    /// Opens or creates the store at `path` (parent folders are created too).
    pub fn open(path: &str) -> Result<Self, StoreError> {
        let pool = open_pool(path, CONNECTIONS, crate::sqlite_pool::STORE_CACHE_KIB)?;
        let conn = pool.get()?;
        conn.execute_batch(SCHEMA)?;
        conn.execute(BACKFILL_PLACES, [])?;
        drop(conn);
        Ok(SqliteStore {
            pool,
            readers: Readers::new(CONNECTIONS as usize)?,
            path: path.to_string(),
            identity: crate::sqlite_pool::FileIdentity::of(path),
        })
    }

    /// The query plan SQLite picks for `query` (one line per step), for tests and `EXPLAIN`-minded operators.
    /// Both statements of a query are explained: the first page's and the continuation's.
    pub fn explain(&self, query: &Query) -> Result<Vec<String>, StoreError> {
        let conn = self.pool.get()?;
        let mut plan = Vec::new();
        let paths = match keyed_paths(query) {
            Some(paths) => paths,
            None => match place_sensors(&conn, query)? {
                Some(sensors) => {
                    let (sql, values) = place_sensors_sql(query).unwrap_or_default();
                    plan.extend(explain(&conn, &sql, values)?);
                    sensors.into_iter().map(Access::Sensor).collect()
                }
                None => vec![window_path(query)],
            },
        };
        for after in [None, Some((query.start, 0))] {
            let Some(access) = paths.first() else { break };
            let (sql, values) = page_sql(query, access, after, 1000);
            plan.extend(explain(&conn, &sql, values)?);
        }
        Ok(plan)
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

fn explain(conn: &Connection, sql: &str, values: Vec<Value>) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map(params_from_iter(values), |row| row.get::<_, String>(3))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}

/// The sensors ever seen inside the query's place, when it names one and they are few enough to read one by
/// one; `None` otherwise (no place, or more than [`MAX_PLACE_SENSORS`]: the window is read instead).
fn place_sensors(conn: &Connection, query: &Query) -> Result<Option<Vec<i64>>, StoreError> {
    let Some((sql, values)) = place_sensors_sql(query) else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let sensors = stmt
        .query_map(params_from_iter(values), |row| row.get::<_, i64>(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok((sensors.len() <= MAX_PLACE_SENSORS).then_some(sensors))
}

fn write_batch(conn: &mut Connection, readings: &[Reading]) -> Result<u64, StoreError> {
    // IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead of deadlocking on
    // a read-to-write upgrade.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(UPSERT)?;
        let mut place = tx.prepare_cached(PLACE)?;
        // In primary-key order, so consecutive inserts touch neighbouring B-tree pages. The sort is stable, so
        // of two readings with one key the later one is still written last and wins.
        let mut ordered: Vec<&Reading> = readings.iter().collect();
        ordered.sort_by_key(|r| (r.sensor_id, r.timestamp));
        for r in ordered {
            stmt.execute(params![
                r.sensor_id as i64,
                r.timestamp,
                r.id.map(|v| v as i64),
                r.sensor_type,
                r.location_id.map(|v| v as i64),
                r.latitude,
                r.longitude,
                r.altitude,
                r.country,
                r.indoor,
                r.pm10,
                r.pm25,
                r.aqi,
                r.band.as_str(),
            ])?;
            if let (Some(lat), Some(lon)) = (r.latitude, r.longitude) {
                place.execute(params![lat, lon, r.sensor_id as i64])?;
            }
        }
    }
    // In the batch's own transaction: a reader sees the new version exactly when it can see the new rows.
    tx.execute(
        "UPDATE data_version SET version = version + 1 WHERE one = 1",
        [],
    )?;
    tx.commit()?;
    Ok(readings.len() as u64)
}

/// The answer of one access path, page by page (keyset paging, one page per pull): nothing is read ahead of
/// the consumer, and no connection is held between pages, so clients that stop reading can never take the pool
/// from everyone else.
fn path_pages(
    pool: SqlitePool,
    readers: Readers,
    query: Query,
    access: Access,
    page_size: usize,
) -> PageStream {
    let pages =
        futures::stream::try_unfold(Some(None), move |state: Option<Option<(i64, i64)>>| {
            let (pool, query, access) = (pool.clone(), query.clone(), access.clone());
            let readers = readers.clone();
            async move {
                let Some(after) = state else {
                    return Ok(None);
                };
                let (readings, read, next) = readers
                    .run(move || read_page(&pool, &query, &access, after, page_size))
                    .await?;
                if read == 0 {
                    return Ok(None);
                }
                Ok(Some((
                    Page {
                        readings,
                        scanned: Some(read),
                    },
                    next.map(Some),
                )))
            }
        });
    Box::pin(pages)
}

#[async_trait]
impl ReadingStore for SqliteStore {
    async fn upsert(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        if readings.is_empty() {
            return Ok(0);
        }
        let readings = readings.to_vec();
        self.blocking(move |conn| write_batch(conn, &readings))
            .await
    }

    fn query(&self, query: &Query, page_size: usize) -> PageStream {
        let page_size = page_size.max(1);
        let (pool, query, readers) = (self.pool.clone(), query.clone(), self.readers.clone());
        if let Some(paths) = keyed_paths(&query) {
            return paths_pages(pool, readers, query, paths, page_size);
        }
        if query.place.is_none() {
            let path = window_path(&query);
            return path_pages(pool, readers, query, path, page_size);
        }
        // A place: find its sensors first (a blocking read), then read their histories, or the window when the
        // place holds too many sensors.
        let resolve = async move {
            let (p, q) = (pool.clone(), query.clone());
            let sensors = tokio::task::spawn_blocking(move || {
                let conn = p.get()?;
                place_sensors(&conn, &q)
            })
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
            Ok::<PageStream, StoreError>(match sensors {
                Some(sensors) => {
                    let paths = sensors.into_iter().map(Access::Sensor).collect();
                    paths_pages(pool, readers, query, paths, page_size)
                }
                None => {
                    let path = window_path(&query);
                    path_pages(pool, readers, query, path, page_size)
                }
            })
        };
        Box::pin(futures::stream::once(resolve).try_flatten())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking(|conn| {
            let n: i64 = conn.query_row("SELECT COUNT(*) FROM readings", [], |row| row.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.blocking(|conn| {
            // MIN and MAX walk one end of the time index each; COUNT(*) reads the smallest index once.
            let (readings, oldest, newest): (i64, Option<i64>, Option<i64>) = conn.query_row(
                "SELECT (SELECT COUNT(*) FROM readings), (SELECT MIN(timestamp) FROM readings), \
                        (SELECT MAX(timestamp) FROM readings)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            Ok(StoreStats {
                readings: u64::try_from(readings).unwrap_or(0),
                approximate: false,
                oldest,
                newest,
            })
        })
        .await
    }

    async fn data_version(&self) -> Result<u64, StoreError> {
        self.blocking(|conn| {
            let v: i64 = conn.query_row(
                "SELECT version FROM data_version WHERE one = 1",
                [],
                |row| row.get(0),
            )?;
            Ok(u64::try_from(v).unwrap_or(0))
        })
        .await
    }

    fn encoded_rows(
        &self,
        query: &Query,
        encoder: crate::answer::Encoder,
        page_size: usize,
    ) -> Option<super::EncodedStream> {
        encode::encoded_rows(
            self.pool.clone(),
            self.readers.clone(),
            query,
            encoder,
            page_size,
        )
    }

    async fn newest(&self) -> Result<Option<i64>, StoreError> {
        self.blocking(|conn| {
            Ok(conn.query_row("SELECT MAX(timestamp) FROM readings", [], |row| row.get(0))?)
        })
        .await
    }

    async fn note_ingest(&self, note: &IngestNote) -> Result<(), StoreError> {
        let note = note.clone();
        self.blocking(move |conn| {
            let summary = note.summary.to_string();
            let kinds: &[&str] = if note.complete {
                &["last", "last_complete"]
            } else {
                &["last"]
            };
            for kind in kinds {
                conn.execute(
                    "INSERT OR REPLACE INTO ingest_notes (kind, finished_ms, complete, summary) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![kind, note.finished_ms, note.complete, summary],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn ingest_notes(&self) -> Result<IngestNotes, StoreError> {
        self.blocking(|conn| {
            let mut notes = IngestNotes::default();
            let mut stmt =
                conn.prepare("SELECT kind, finished_ms, complete, summary FROM ingest_notes")?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, bool>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (kind, finished_ms, complete, summary) = row?;
                let note = IngestNote {
                    finished_ms,
                    complete,
                    summary: serde_json::from_str(&summary)
                        .map_err(|e| StoreError::Corrupt(format!("ingest note: {e}")))?,
                };
                match kind.as_str() {
                    "last" => notes.last = Some(note),
                    "last_complete" => notes.last_complete = Some(note),
                    _ => {}
                }
            }
            Ok(notes)
        })
        .await
    }

    async fn check(&self) -> Result<(), StoreError> {
        let (identity, path) = (self.identity, self.path.clone());
        self.blocking(move |conn| {
            if let Some(identity) = identity {
                identity.verify(&path).map_err(StoreError::Identity)?;
            }
            conn.query_row("SELECT 1 FROM readings LIMIT 1", [], |_| Ok(()))
                .optional()?;
            Ok(())
        })
        .await
    }

    fn describe(&self) -> String {
        format!("sqlite://{}", self.path)
    }
}

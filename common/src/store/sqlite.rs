//! The embedded reading store: one SQLite table keyed by (sensor_id, timestamp), with indexes that serve the
//! two query shapes (time window; country and time window) in answer order, so a query reads its matching rows
//! and never sorts or scans the table.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::{IngestNote, IngestNotes, Page, PageStream, ReadingStore, StoreError, StoreStats};
use crate::index::Band;
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
CREATE INDEX IF NOT EXISTS readings_by_country_time ON readings (country, timestamp, sensor_id);
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

const COLUMNS: &str =
    "id, sensor_id, sensor_type, location_id, latitude, longitude, altitude, country, indoor, \
                       timestamp, pm10, pm25, aqi, band";

/// The two query statements. With a country, `readings_by_country_time` serves the equality and the range and
/// yields rows already in (timestamp, sensor_id) order; without one, `readings_by_time` does.
/// Returns the statement and its parameters; the country test is only present when asked for, so that the
/// planner can pick the country index.
/// The query for one page: the answer's rows after `after` (the last row of the previous page, by the answer's
/// order `(timestamp, sensor_id)`), at most `limit` of them. Each page is its own short statement, so a page
/// holds a pooled connection only while it is read, never while the consumer (a slow client) waits.
fn select_sql(query: &Query, after: Option<(i64, i64)>, limit: usize) -> (String, Vec<Value>) {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM readings WHERE timestamp BETWEEN ? AND ? AND aqi BETWEEN ? AND ?"
    );
    // A continuation starts the index range at the last row's second (not at the window's start, which would
    // make every page walk all the rows before it), and skips that second's rows up to the last sensor.
    let from = after.map_or(query.start, |(timestamp, _)| timestamp.max(query.start));
    let mut values = vec![
        Value::Integer(from),
        Value::Integer(query.end),
        Value::Integer(query.min_aqi.into()),
        Value::Integer(query.max_aqi.into()),
    ];
    if let Some(band) = query.band {
        sql.push_str(" AND band = ?");
        values.push(Value::Text(band.as_str().to_string()));
    }
    if let Some(country) = &query.country {
        sql.push_str(" AND country = ?");
        values.push(Value::Text(country.to_ascii_uppercase()));
    }
    if let Some((timestamp, sensor_id)) = after {
        sql.push_str(" AND (timestamp > ? OR sensor_id > ?)");
        values.push(Value::Integer(timestamp));
        values.push(Value::Integer(sensor_id));
    }
    sql.push_str(" ORDER BY timestamp, sensor_id LIMIT ?");
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    (sql, values)
}

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: String,
    /// The file opened, to notice it being removed or replaced under this process.
    identity: Option<crate::sqlite_pool::FileIdentity>,
}

impl SqliteStore {
    /// Opens or creates the store at `path` (parent folders are created too).
    pub fn open(path: &str) -> Result<Self, StoreError> {
        let pool = open_pool(path, 8, crate::sqlite_pool::STORE_CACHE_KIB)?;
        pool.get()?.execute_batch(SCHEMA)?;
        Ok(SqliteStore {
            pool,
            path: path.to_string(),
            identity: crate::sqlite_pool::FileIdentity::of(path),
        })
    }

    /// The query plan SQLite picks for `query` (one line per step), for tests and `EXPLAIN`-minded operators.
    /// Both statements of a query are explained: the first page's and the continuation's.
    pub fn explain(&self, query: &Query) -> Result<Vec<String>, StoreError> {
        let conn = self.pool.get()?;
        let mut plan = Vec::new();
        for after in [None, Some((query.start, 0))] {
            let (sql, values) = select_sql(query, after, 1000);
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(params_from_iter(values), |row| row.get::<_, String>(3))?;
            plan.extend(rows.collect::<Result<Vec<String>, _>>()?);
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

fn write_batch(conn: &mut Connection, readings: &[Reading]) -> Result<u64, StoreError> {
    // IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead of deadlocking on
    // a read-to-write upgrade.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(UPSERT)?;
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
        }
    }
    tx.commit()?;
    Ok(readings.len() as u64)
}

fn reading_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Reading, StoreError>> {
    let band: String = row.get(13)?;
    let band = match band.parse::<Band>() {
        Ok(b) => b,
        Err(e) => return Ok(Err(StoreError::Corrupt(e.to_string()))),
    };
    Ok(Ok(Reading {
        id: row.get::<_, Option<i64>>(0)?.map(|v| v as u64),
        sensor_id: row.get::<_, i64>(1)? as u64,
        sensor_type: row.get(2)?,
        location_id: row.get::<_, Option<i64>>(3)?.map(|v| v as u64),
        latitude: row.get(4)?,
        longitude: row.get(5)?,
        altitude: row.get(6)?,
        country: row.get(7)?,
        indoor: row.get(8)?,
        timestamp: row.get(9)?,
        pm10: row.get(10)?,
        pm25: row.get(11)?,
        aqi: row.get(12)?,
        band,
    }))
}

/// Reads one page on the calling (blocking) thread, with a connection taken from the pool and returned as soon
/// as the page is read.
fn read_page(
    pool: &SqlitePool,
    query: &Query,
    after: Option<(i64, i64)>,
    page_size: usize,
) -> Result<Vec<Reading>, StoreError> {
    let conn = pool.get()?;
    let (sql, values) = select_sql(query, after, page_size);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let mut page = Vec::with_capacity(page_size);
    while let Some(row) = rows.next()? {
        page.push(reading_from_row(row)??);
    }
    Ok(page)
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
        let pool = self.pool.clone();
        let query = query.clone();
        // Keyset paging, one page per pull: nothing is read ahead of the consumer, and no connection is held
        // between pages, so clients that stop reading can never take the pool from everyone else.
        let pages =
            futures::stream::try_unfold(Some(None), move |state: Option<Option<(i64, i64)>>| {
                let (pool, query) = (pool.clone(), query.clone());
                async move {
                    let Some(after) = state else {
                        return Ok(None);
                    };
                    let readings = tokio::task::spawn_blocking(move || {
                        read_page(&pool, &query, after, page_size)
                    })
                    .await
                    .map_err(|e| StoreError::Task(e.to_string()))??;
                    if readings.is_empty() {
                        return Ok(None);
                    }
                    let next = match readings.last() {
                        Some(last) if readings.len() == page_size => Some(Some((
                            last.timestamp,
                            i64::try_from(last.sensor_id).unwrap_or(i64::MAX),
                        ))),
                        _ => None,
                    };
                    let scanned = Some(readings.len() as u64);
                    Ok(Some((Page { readings, scanned }, next)))
                }
            });
        Box::pin(pages)
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

//! The embedded result store: two tables in the same SQLite file as the readings and the queues.
//!
//! `results` has one row per job id (its state, deadline, expiry and where its answer is); `result_parts` has
//! the answer's compressed parts, keyed by (id, attempt, part). A finish is one `BEGIN IMMEDIATE` transaction
//! that checks the job is still pending, records the answer and, when the stored answers pass the budget, evicts
//! already-fetched answers first and unfetched ones only if that is not enough. The budget counts bytes on disk,
//! not in any process's memory.

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::record::{status_at as status_of, Record as Row, TIMEOUT_MESSAGE};
use super::{
    GoneReason, JobStatus, NewJob, Outcome, ResultError, ResultOptions, ResultStore, SweepReport,
    Usage, REMEMBER_GONE,
};
use crate::protocol::now_ms;
use crate::sqlite_pool::{open_pool, SqlitePool};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS results (
    id           TEXT PRIMARY KEY,
    state        TEXT    NOT NULL,
    submitted_ms INTEGER NOT NULL,
    deadline_ms  INTEGER NOT NULL,
    ttl_ms       INTEGER NOT NULL,
    finished_ms  INTEGER,
    expires_ms   INTEGER,
    forget_ms    INTEGER,
    attempt      TEXT,
    parts        INTEGER,
    csv_bytes    INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    fetched      INTEGER NOT NULL DEFAULT 0,
    reason       TEXT,
    message      TEXT,
    field        TEXT,
    gone_reason  TEXT,
    owner        TEXT,
    format       TEXT
);
CREATE INDEX IF NOT EXISTS results_by_state ON results (state, expires_ms);
CREATE TABLE IF NOT EXISTS result_parts (
    id         TEXT    NOT NULL,
    attempt    TEXT    NOT NULL,
    part       INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    written_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS result_parts_key ON result_parts (id, attempt, part);
CREATE TABLE IF NOT EXISTS members (
    id      TEXT PRIMARY KEY,
    seen_ms INTEGER NOT NULL
);
";

/// The result tables in one SQLite file.
#[derive(Clone)]
pub struct SqliteResults {
    pool: SqlitePool,
    path: String,
    options: ResultOptions,
}

impl SqliteResults {
    pub fn open(path: &str, options: ResultOptions) -> Result<Self, ResultError> {
        let pool = open_pool(path, 4, crate::sqlite_pool::SMALL_CACHE_KIB)?;
        let conn = pool.get()?;
        conn.execute_batch(SCHEMA)?;
        add_column(&conn, "owner")?;
        add_column(&conn, "format")?;
        drop(conn);
        Ok(SqliteResults {
            pool,
            path: path.to_string(),
            options,
        })
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, ResultError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ResultError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| ResultError::Task(e.to_string()))?
    }
}

fn read_row(conn: &Connection, id: &str) -> Result<Option<Row>, ResultError> {
    Ok(conn
        .query_row(
            "SELECT state, deadline_ms, ttl_ms, expires_ms, forget_ms, attempt, parts, csv_bytes, stored_bytes,
                    reason, message, field, gone_reason, format
             FROM results WHERE id = ?1",
            [id],
            |r| {
                Ok(Row {
                    state: r.get(0)?,
                    deadline_ms: r.get(1)?,
                    ttl_ms: r.get(2)?,
                    expires_ms: r.get(3)?,
                    forget_ms: r.get(4)?,
                    attempt: r.get(5)?,
                    parts: r.get(6)?,
                    csv_bytes: r.get(7)?,
                    stored_bytes: r.get(8)?,
                    reason: r.get(9)?,
                    message: r.get(10)?,
                    field: r.get(11)?,
                    gone_reason: r.get(12)?,
                    format: r.get(13)?,
                    inline: None,
                })
            },
        )
        .optional()?)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Marks ids gone and removes their parts.
fn make_gone(
    conn: &Connection,
    id: &str,
    reason: GoneReason,
    now: i64,
) -> Result<u64, ResultError> {
    conn.execute(
        "UPDATE results SET state = 'gone', gone_reason = ?2, forget_ms = ?3, stored_bytes = 0 WHERE id = ?1",
        params![id, reason.as_str(), now + ms(REMEMBER_GONE)],
    )?;
    Ok(conn.execute("DELETE FROM result_parts WHERE id = ?1", [id])? as u64)
}

/// Evicts stored answers (other than `keep`) until the stored bytes are within `budget`: fetched ones first,
/// oldest first; answers nobody has fetched only when that is not enough.
fn evict_over_budget(
    conn: &Connection,
    budget: u64,
    keep: &str,
    now: i64,
) -> Result<u64, ResultError> {
    let mut held: i64 = conn.query_row(
        "SELECT COALESCE(SUM(stored_bytes), 0) FROM results WHERE state = 'done'",
        [],
        |r| r.get(0),
    )?;
    let mut evicted = 0;
    while u64_of(held) > budget {
        let victim: Option<(String, i64)> = conn
            .query_row(
                "SELECT id, stored_bytes FROM results WHERE state = 'done' AND id <> ?1
                 ORDER BY fetched DESC, finished_ms ASC LIMIT 1",
                [keep],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((victim, size)) = victim else { break };
        make_gone(conn, &victim, GoneReason::Evicted, now)?;
        held -= size;
        evicted += 1;
    }
    Ok(evicted)
}

fn finish_tx(
    conn: &mut Connection,
    id: &str,
    outcome: Outcome,
    budget: u64,
) -> Result<bool, ResultError> {
    let now = now_ms();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(row) = read_row(&tx, id)? else {
        return Ok(false);
    };
    if !matches!(row.state.as_str(), "queued" | "running") || row.deadline_ms <= now {
        return Ok(false);
    }
    let expires = now + row.ttl_ms;
    match outcome {
        Outcome::Done(answer) => {
            if answer.stored_bytes > budget {
                return Err(ResultError::TooLarge {
                    size: answer.stored_bytes,
                    limit: budget,
                });
            }
            let attempt = answer.attempt.to_string();
            if let Some(inline) = &answer.inline {
                tx.execute(
                    "INSERT OR REPLACE INTO result_parts (id, attempt, part, data, written_ms)
                     VALUES (?1, ?2, 0, ?3, ?4)",
                    params![id, attempt, &inline[..], now],
                )?;
            }
            let stored: i64 = tx.query_row(
                "SELECT COUNT(*) FROM result_parts WHERE id = ?1 AND attempt = ?2",
                params![id, attempt],
                |r| r.get(0),
            )?;
            if stored != i64::from(answer.parts) {
                return Err(ResultError::MissingPart {
                    id: Uuid::parse_str(id).unwrap_or_default(),
                    part: u32::try_from(stored).unwrap_or(0),
                });
            }
            tx.execute(
                "UPDATE results SET state = 'done', finished_ms = ?2, expires_ms = ?3, attempt = ?4, parts = ?5,
                        csv_bytes = ?6, stored_bytes = ?7 WHERE id = ?1",
                params![
                    id,
                    now,
                    expires,
                    attempt,
                    answer.parts,
                    i64_of(answer.csv_bytes),
                    i64_of(answer.stored_bytes)
                ],
            )?;
            tx.execute(
                "DELETE FROM result_parts WHERE id = ?1 AND attempt <> ?2",
                params![id, attempt],
            )?;
            evict_over_budget(&tx, budget, id, now)?;
        }
        Outcome::Failed(failure) => {
            tx.execute(
                "UPDATE results SET state = 'failed', finished_ms = ?2, expires_ms = ?3, reason = ?4, message = ?5,
                        field = ?6, stored_bytes = 0 WHERE id = ?1",
                params![
                    id,
                    now,
                    expires,
                    failure.reason.as_str(),
                    failure.message,
                    failure.field
                ],
            )?;
            tx.execute("DELETE FROM result_parts WHERE id = ?1", [id])?;
        }
    }
    tx.commit()?;
    Ok(true)
}

fn sweep_tx(conn: &mut Connection) -> Result<SweepReport, ResultError> {
    let now = now_ms();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut report = SweepReport {
        timed_out: tx.execute(
            "UPDATE results SET state = 'failed', reason = 'timeout', message = ?2, finished_ms = deadline_ms,
                    expires_ms = deadline_ms + ttl_ms
             WHERE state IN ('queued', 'running') AND deadline_ms <= ?1",
            params![now, TIMEOUT_MESSAGE],
        )? as u64,
        ..SweepReport::default()
    };
    let expired: Vec<String> = tx
        .prepare("SELECT id FROM results WHERE state IN ('done', 'failed') AND expires_ms <= ?1")?
        .query_map([now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in &expired {
        report.parts_removed += make_gone(&tx, id, GoneReason::Expired, now)?;
    }
    report.expired = expired.len() as u64;
    // Parts no reader will ever use: of ids no longer pending whose recorded answer is another attempt's (a
    // worker that died mid-stream, a duplicate delivery that lost), or of ids with no record at all.
    report.parts_removed += tx.execute(
        "DELETE FROM result_parts WHERE NOT EXISTS (
             SELECT 1 FROM results r WHERE r.id = result_parts.id
               AND (r.state IN ('queued', 'running') OR (r.state = 'done' AND r.attempt = result_parts.attempt)))",
        [],
    )? as u64;
    report.forgotten = tx.execute(
        "DELETE FROM results WHERE state = 'gone' AND forget_ms <= ?1",
        [now],
    )? as u64;
    tx.commit()?;
    Ok(report)
}

/// Files made before jobs had owners (or formats) get the column (`CREATE TABLE IF NOT EXISTS` leaves an old
/// table as it is). Two processes opening the same old file at once may both try: the loser's "duplicate
/// column" is fine. `name` is one of this file's own column names, never input.
fn add_column(conn: &Connection, name: &str) -> Result<(), ResultError> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('results') WHERE name = ?1",
        [name],
        |row| row.get(0),
    )?;
    if has {
        return Ok(());
    }
    match conn.execute(&format!("ALTER TABLE results ADD COLUMN {name} TEXT"), []) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(_, Some(message)))
            if message.contains("duplicate column") =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[async_trait::async_trait]
impl ResultStore for SqliteResults {
    async fn create(&self, job: &NewJob) -> Result<(), ResultError> {
        let job = job.clone();
        self.blocking(move |conn| {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO results (id, state, submitted_ms, deadline_ms, ttl_ms, owner, format)
                 VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6)",
                params![
                    job.id.to_string(),
                    job.submitted_ms,
                    job.deadline_ms,
                    ms(job.ttl),
                    job.owner,
                    (!job.format.is_default()).then(|| job.format.as_str())
                ],
            )?;
            if inserted == 0 {
                return Err(ResultError::Exists(job.id));
            }
            Ok(())
        })
        .await
    }

    async fn status(&self, id: Uuid) -> Result<JobStatus, ResultError> {
        self.blocking(move |conn| status_of(read_row(conn, &id.to_string())?, now_ms()))
            .await
    }

    async fn owner(&self, id: Uuid) -> Result<Option<String>, ResultError> {
        self.blocking(move |conn| {
            let owner = conn
                .query_row(
                    "SELECT owner FROM results WHERE id = ?1",
                    [id.to_string()],
                    |row| row.get::<_, Option<String>>(0),
                )
                .optional()?;
            Ok(owner.flatten())
        })
        .await
    }

    async fn seen(&self, member: &str) -> Result<(), ResultError> {
        let member = member.to_string();
        self.blocking(move |conn| {
            let now = now_ms();
            conn.execute(
                "INSERT OR REPLACE INTO members (id, seen_ms) VALUES (?1, ?2)",
                params![member, now],
            )?;
            conn.execute(
                "DELETE FROM members WHERE seen_ms < ?1",
                [now - ms(super::FORGET_MEMBERS)],
            )?;
            Ok(())
        })
        .await
    }

    async fn members(&self, since_ms: i64) -> Result<Vec<(String, i64)>, ResultError> {
        self.blocking(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, seen_ms FROM members WHERE seen_ms >= ?1 ORDER BY seen_ms DESC, id",
            )?;
            let rows = stmt.query_map([since_ms], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn start(&self, id: Uuid) -> Result<JobStatus, ResultError> {
        self.blocking(move |conn| {
            let now = now_ms();
            let id = id.to_string();
            conn.execute(
                "UPDATE results SET state = 'running' WHERE id = ?1 AND state = 'queued' AND deadline_ms > ?2",
                params![id, now],
            )?;
            status_of(read_row(conn, &id)?, now)
        })
        .await
    }

    async fn put_part(
        &self,
        id: Uuid,
        attempt: Uuid,
        n: u32,
        data: Bytes,
    ) -> Result<(), ResultError> {
        self.blocking(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO result_parts (id, attempt, part, data, written_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.to_string(), attempt.to_string(), n, &data[..], now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn finish(&self, id: Uuid, outcome: Outcome) -> Result<bool, ResultError> {
        let budget = self.options.budget;
        self.blocking(move |conn| finish_tx(conn, &id.to_string(), outcome, budget))
            .await
    }

    async fn read_part(&self, id: Uuid, attempt: Uuid, n: u32) -> Result<Bytes, ResultError> {
        self.blocking(move |conn| {
            let data: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT data FROM result_parts WHERE id = ?1 AND attempt = ?2 AND part = ?3",
                    params![id.to_string(), attempt.to_string(), n],
                    |r| r.get(0),
                )
                .optional()?;
            data.map(Bytes::from)
                .ok_or(ResultError::MissingPart { id, part: n })
        })
        .await
    }

    async fn fetched(&self, id: Uuid) -> Result<(), ResultError> {
        self.blocking(move |conn| {
            conn.execute(
                "UPDATE results SET fetched = 1 WHERE id = ?1 AND fetched = 0",
                [id.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    async fn cancel(&self, id: Uuid) -> Result<bool, ResultError> {
        self.blocking(move |conn| {
            let now = now_ms();
            let id = id.to_string();
            match status_of(read_row(conn, &id)?, now)? {
                JobStatus::Unknown => Ok(false),
                JobStatus::Gone(_) => Ok(true),
                _ => {
                    make_gone(conn, &id, GoneReason::Cancelled, now)?;
                    Ok(true)
                }
            }
        })
        .await
    }

    async fn sweep(&self) -> Result<SweepReport, ResultError> {
        self.blocking(sweep_tx).await
    }

    async fn usage(&self) -> Result<Usage, ResultError> {
        self.blocking(|conn| {
            let (answers, bytes): (i64, i64) = conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(stored_bytes), 0) FROM results WHERE state = 'done'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Usage {
                answers: u64_of(answers),
                stored_bytes: u64_of(bytes),
            })
        })
        .await
    }

    async fn check(&self) -> Result<(), ResultError> {
        self.blocking(|conn| {
            conn.query_row("SELECT COUNT(*) FROM results WHERE 0", [], |r| {
                r.get::<_, i64>(0)
            })?;
            Ok(())
        })
        .await
    }

    fn max_answer_bytes(&self) -> u64 {
        self.options.budget
    }

    fn part_bytes(&self) -> usize {
        self.options.part_bytes
    }

    fn describe(&self) -> String {
        format!("sqlite://{} (results)", self.path)
    }
}

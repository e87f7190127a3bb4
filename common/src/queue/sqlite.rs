//! The embedded job queue, in the same SQLite file as the embedded store.
//!
//! Messages live in one table with a `visible_at` time (milliseconds since the epoch, so that several processes
//! on one machine agree on it); receiving is one `BEGIN IMMEDIATE` transaction that picks visible messages, moves
//! those past their receive limit to the dead-letter table, and hides the rest for the visibility timeout under a
//! fresh receipt. Waiting receivers in the same process are woken by the sender at once (a `Notify` per queue);
//! receivers in other processes notice new messages by a cheap indexed existence check every
//! [`CROSS_PROCESS_POLL`], so an idle consumer costs a few tiny reads per second, never a busy loop.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::Notify;

use super::{
    CancellationToken, JobQueue, Message, QueueDepth, QueueError, QueueOptions, QueueService,
    Receipt,
};
use crate::sqlite_pool::{open_pool, SqlitePool};

/// How often a waiting receiver looks for messages sent by another process.
pub const CROSS_PROCESS_POLL: Duration = Duration::from_millis(50);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    name         TEXT PRIMARY KEY,
    max_receives INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER
);
CREATE TABLE IF NOT EXISTS queue_messages (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    receipt       TEXT,
    receive_count INTEGER NOT NULL DEFAULT 0,
    visible_ms    INTEGER NOT NULL,
    sent_ms       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_ms, seq);
CREATE TABLE IF NOT EXISTS queue_dead_letters (
    seq           INTEGER PRIMARY KEY,
    queue         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    receive_count INTEGER NOT NULL,
    sent_ms       INTEGER NOT NULL,
    dead_ms       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_dead_letters_by_queue ON queue_dead_letters (queue);
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One `Notify` per (database file, queue) in this process, shared by every handle on that queue.
type Notifiers = Mutex<HashMap<(String, String), Arc<Notify>>>;

fn notifier(db: &str, queue: &str) -> Arc<Notify> {
    static NOTIFIERS: OnceLock<Notifiers> = OnceLock::new();
    let map = NOTIFIERS.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry((db.to_string(), queue.to_string()))
        .or_insert_with(|| Arc::new(Notify::new()))
        .clone()
}

/// The queues in one SQLite file.
#[derive(Clone)]
pub struct SqliteQueues {
    pool: SqlitePool,
    /// Canonical path of the file: the key that lets handles opened by different paths share wake-ups.
    key: String,
    path: String,
    max_message_bytes: usize,
}

impl SqliteQueues {
    pub fn open(path: &str) -> Result<Self, QueueError> {
        let pool = open_pool(path, 8, crate::sqlite_pool::SMALL_CACHE_KIB)?;
        let conn = pool.get()?;
        conn.execute_batch(SCHEMA)?;
        // Files made before queues had heartbeats: add the column (an error only says it is there already).
        let has_heartbeat: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('queues') WHERE name = 'heartbeat_ms'",
            [],
            |r| r.get(0),
        )?;
        if !has_heartbeat {
            conn.execute_batch("ALTER TABLE queues ADD COLUMN heartbeat_ms INTEGER")?;
        }
        drop(conn);
        let key = Path::new(path)
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_string());
        Ok(SqliteQueues {
            pool,
            key,
            path: path.to_string(),
            max_message_bytes: super::DEFAULT_MAX_MESSAGE_BYTES,
        })
    }

    /// Sets the largest accepted message (the default mirrors SQS deployments, so both backends behave alike).
    pub fn with_max_message_bytes(mut self, limit: usize) -> Self {
        self.max_message_bytes = limit;
        self
    }

    async fn blocking<T, F>(pool: &SqlitePool, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| QueueError::Task(e.to_string()))?
    }

    fn handle(&self, name: &str, max_receives: u32) -> Arc<dyn JobQueue> {
        Arc::new(SqliteQueue {
            pool: self.pool.clone(),
            name: name.to_string(),
            max_receives,
            max_message_bytes: self.max_message_bytes,
            notify: notifier(&self.key, name),
        })
    }
}

#[async_trait]
impl QueueService for SqliteQueues {
    async fn create(
        &self,
        name: &str,
        options: &QueueOptions,
    ) -> Result<Arc<dyn JobQueue>, QueueError> {
        let (n, max) = (name.to_string(), options.max_receives);
        let max_receives = Self::blocking(&self.pool, move |conn| {
            conn.execute(
                "INSERT INTO queues (name, max_receives, created_ms, heartbeat_ms) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (name) DO NOTHING",
                params![n, max, now_ms()],
            )?;
            let max: u32 = conn.query_row("SELECT max_receives FROM queues WHERE name = ?1", [&n], |r| r.get(0))?;
            Ok(max)
        })
        .await?;
        Ok(self.handle(name, max_receives))
    }

    async fn open(&self, name: &str) -> Result<Arc<dyn JobQueue>, QueueError> {
        let n = name.to_string();
        let max_receives = Self::blocking(&self.pool, move |conn| {
            conn.query_row(
                "SELECT max_receives FROM queues WHERE name = ?1",
                [&n],
                |r| r.get::<_, u32>(0),
            )
            .optional()?
            .ok_or(QueueError::NoSuchQueue(n))
        })
        .await?;
        Ok(self.handle(name, max_receives))
    }

    async fn remove(&self, name: &str) -> Result<(), QueueError> {
        let n = name.to_string();
        Self::blocking(&self.pool, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM queue_messages WHERE queue = ?1", [&n])?;
            tx.execute("DELETE FROM queue_dead_letters WHERE queue = ?1", [&n])?;
            tx.execute("DELETE FROM queues WHERE name = ?1", [&n])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn check(&self) -> Result<(), QueueError> {
        Self::blocking(&self.pool, |conn| {
            conn.query_row("SELECT COUNT(*) FROM queues", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    async fn heartbeat(&self, name: &str) -> Result<(), QueueError> {
        let n = name.to_string();
        Self::blocking(&self.pool, move |conn| {
            let updated = conn.execute(
                "UPDATE queues SET heartbeat_ms = ?2 WHERE name = ?1",
                params![n, now_ms()],
            )?;
            if updated == 0 {
                return Err(QueueError::NoSuchQueue(n));
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<super::QueueInfo>, QueueError> {
        let prefix = prefix.to_string();
        Self::blocking(&self.pool, move |conn| {
            let mut statement = conn.prepare(
                "SELECT name, heartbeat_ms FROM queues WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name",
            )?;
            let queues = statement
                .query_map([&prefix], |r| {
                    Ok(super::QueueInfo {
                        name: r.get(0)?,
                        heartbeat_ms: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(queues)
        })
        .await
    }

    fn describe(&self) -> String {
        format!("sqlite://{}", self.path)
    }
}

/// One queue in the file.
pub struct SqliteQueue {
    pool: SqlitePool,
    name: String,
    max_receives: u32,
    max_message_bytes: usize,
    notify: Arc<Notify>,
}

/// Picks up to `max` visible messages: dead-letters those past the limit and hides the rest under new receipts.
fn take_visible(
    conn: &mut Connection,
    queue: &str,
    max: usize,
    max_receives: u32,
    visibility: Duration,
) -> Result<Vec<Message>, QueueError> {
    let now = now_ms();
    // A cheap read first, so idle polling never takes the write lock.
    let any: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM queue_messages WHERE queue = ?1 AND visible_ms <= ?2)",
        params![queue, now],
        |r| r.get(0),
    )?;
    if !any {
        return Ok(Vec::new());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut out = Vec::new();
    {
        let mut pick = tx.prepare_cached(
            "SELECT seq, body, receive_count FROM queue_messages WHERE queue = ?1 AND visible_ms <= ?2 \
             ORDER BY visible_ms, seq LIMIT ?3",
        )?;
        let candidates: Vec<(i64, String, u32)> = pick
            .query_map(params![queue, now, (max * 2) as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut bury = tx.prepare_cached(
            "INSERT INTO queue_dead_letters (seq, queue, body, receive_count, sent_ms, dead_ms) \
             SELECT seq, queue, body, receive_count, sent_ms, ?2 FROM queue_messages WHERE seq = ?1",
        )?;
        let mut remove = tx.prepare_cached("DELETE FROM queue_messages WHERE seq = ?1")?;
        let mut hide = tx.prepare_cached(
            "UPDATE queue_messages SET receipt = ?2, receive_count = receive_count + 1, visible_ms = ?3 WHERE seq = ?1",
        )?;
        let visible_ms = now + visibility.as_millis() as i64;
        for (seq, body, count) in candidates {
            if max_receives > 0 && count >= max_receives {
                bury.execute(params![seq, now])?;
                remove.execute([seq])?;
                continue;
            }
            if out.len() >= max {
                continue;
            }
            let receipt = format!("{seq}:{:016x}", rand::thread_rng().gen::<u64>());
            hide.execute(params![seq, receipt, visible_ms])?;
            out.push(Message {
                id: seq.to_string(),
                body,
                receipt: Receipt(receipt),
                receive_count: count + 1,
            });
        }
    }
    tx.commit()?;
    Ok(out)
}

fn receipt_seq(receipt: &Receipt) -> Option<i64> {
    receipt
        .0
        .split_once(':')
        .and_then(|(seq, _)| seq.parse().ok())
}

#[async_trait]
impl JobQueue for SqliteQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, bodies: &[String]) -> Result<(), QueueError> {
        if let Some(big) = bodies.iter().find(|b| b.len() > self.max_message_bytes) {
            return Err(QueueError::TooLarge {
                size: big.len(),
                limit: self.max_message_bytes,
            });
        }
        if bodies.is_empty() {
            return Ok(());
        }
        let (name, bodies) = (self.name.clone(), bodies.to_vec());
        SqliteQueues::blocking(&self.pool, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let exists: bool =
                    tx.query_row("SELECT EXISTS (SELECT 1 FROM queues WHERE name = ?1)", [&name], |r| r.get(0))?;
                if !exists {
                    return Err(QueueError::NoSuchQueue(name));
                }
                let mut insert = tx.prepare_cached(
                    "INSERT INTO queue_messages (queue, body, visible_ms, sent_ms) VALUES (?1, ?2, ?3, ?3)",
                )?;
                let now = now_ms();
                for body in &bodies {
                    insert.execute(params![name, body, now])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Message>, QueueError> {
        let max = max.clamp(1, 10);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register for a wake-up before looking, so a send between the look and the wait is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Stop only before a take: once the take has started on its thread, its messages are returned.
            if stop.is_cancelled() {
                return Ok(Vec::new());
            }
            let (name, limit) = (self.name.clone(), self.max_receives);
            let got = SqliteQueues::blocking(&self.pool, move |conn| {
                take_visible(conn, &name, max, limit, visibility)
            })
            .await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let nap = CROSS_PROCESS_POLL.min(deadline - now);
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
                _ = stop.cancelled() => return Ok(Vec::new()),
            }
        }
    }

    async fn delete(&self, receipts: &[Receipt]) -> Result<(), QueueError> {
        let receipts = receipts.to_vec();
        SqliteQueues::blocking(&self.pool, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut delete = tx
                    .prepare_cached("DELETE FROM queue_messages WHERE seq = ?1 AND receipt = ?2")?;
                for receipt in &receipts {
                    if let Some(seq) = receipt_seq(receipt) {
                        delete.execute(params![seq, receipt.0])?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), QueueError> {
        let receipt = receipt.clone();
        SqliteQueues::blocking(&self.pool, move |conn| {
            let seq = receipt_seq(&receipt).ok_or(QueueError::ReceiptExpired)?;
            let changed = conn.execute(
                "UPDATE queue_messages SET visible_ms = ?3 WHERE seq = ?1 AND receipt = ?2",
                params![seq, receipt.0, now_ms() + visibility.as_millis() as i64],
            )?;
            if changed == 0 {
                return Err(QueueError::ReceiptExpired);
            }
            Ok(())
        })
        .await
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let name = self.name.clone();
        SqliteQueues::blocking(&self.pool, move |conn| {
            let now = now_ms();
            let (visible, in_flight, oldest): (i64, i64, Option<i64>) = conn.query_row(
                "SELECT COALESCE(SUM(visible_ms <= ?2), 0), COALESCE(SUM(visible_ms > ?2), 0), MIN(sent_ms) \
                 FROM queue_messages WHERE queue = ?1",
                params![name, now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let dead: i64 = conn.query_row(
                "SELECT COUNT(*) FROM queue_dead_letters WHERE queue = ?1",
                [&name],
                |r| r.get(0),
            )?;
            Ok(QueueDepth {
                visible: visible as u64,
                in_flight: in_flight as u64,
                dead_lettered: Some(dead as u64),
                oldest_age: oldest.map(|sent| {
                    std::time::Duration::from_millis(u64::try_from(now - sent).unwrap_or(0))
                }),
            })
        })
        .await
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }
}

//! The `JobQueue` trait (the queue seam between gateways and workers) and its backends: `sqlite` (embedded
//! default) and `sqs`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use tokio_util::sync::CancellationToken;

pub mod sqlite;
pub mod sqs;

/// The largest message every SQS deployment and emulator accepts; the default part size for results.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The request queue's name when a URL names none.
pub const DEFAULT_REQUEST_QUEUE: &str = "airq-requests";
/// How many receives a message gets before it moves to the dead-letter queue, unless configured otherwise.
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

/// A received message. The receipt, not the id, is what acknowledges it: a message received again (after its
/// visibility timeout) gets a new receipt, and the old one no longer works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub receipt: Receipt,
    /// How many times this message has been received, this time included (1 on first delivery).
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Receipt(pub String);

/// Approximate counts, as SQS gives them: messages ready to receive, and received but not yet deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    /// Messages in this queue's dead-letter queue, when the backend can tell.
    pub dead_lettered: Option<u64>,
    /// How long the oldest message still in the queue (visible or being worked on) has been there, when the
    /// backend can tell cheaply (the embedded queue; SQS reports it only to CloudWatch).
    pub oldest_age: Option<std::time::Duration>,
}

/// How a queue is created.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Receives after which a message goes to the dead-letter queue instead of being delivered again. 0 = never.
    pub max_receives: u32,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            max_receives: DEFAULT_MAX_RECEIVES,
        }
    }
}

/// A message queue with at-least-once delivery.
///
/// Contract, the same for every backend (the conformance suite holds each to it):
/// - [`send`](Self::send) stores each body durably before returning. A batch holding a body over
///   [`max_message_bytes`](Self::max_message_bytes) is rejected with [`QueueError::TooLarge`] before anything
///   is sent. Any number of bodies may be given; backends batch as their API allows.
/// - [`receive`](Self::receive) returns up to `max` messages (at most 10), waiting up to `wait` for the first
///   one to arrive and returning as soon as one does (long poll, no busy loop). Received messages are invisible
///   to other receivers for `visibility`; unless deleted in that time they are delivered again, with a
///   higher `receive_count`. Order is roughly first-in first-out, not guaranteed.
/// - A message received `max_receives` times and not deleted goes to the dead-letter queue on its next delivery
///   attempt instead of being delivered again.
/// - [`receive_until`](Self::receive_until) is `receive` that stops waiting once `stop` is cancelled. A stop is
///   honoured only where nothing has been taken off the queue yet, so whatever the call took is returned, never
///   dropped: a consumer that is shutting down awaits it and loses no message.
/// - [`delete`](Self::delete) acknowledges messages by receipt; deleting twice is harmless.
/// - [`extend`](Self::extend) sets the visibility of a message still held, counted from now (a heartbeat for
///   long jobs); it fails with [`QueueError::ReceiptExpired`] once the message has been delivered again.
/// - [`depth`](Self::depth) is approximate (SQS's counts lag by up to a minute).
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    fn name(&self) -> &str;
    async fn send(&self, bodies: &[String]) -> Result<(), QueueError>;
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        self.receive_until(max, wait, visibility, &CancellationToken::new())
            .await
    }
    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Message>, QueueError>;
    async fn delete(&self, receipts: &[Receipt]) -> Result<(), QueueError>;
    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), QueueError>;
    async fn depth(&self) -> Result<QueueDepth, QueueError>;
    /// The largest body `send` accepts, in bytes.
    fn max_message_bytes(&self) -> usize;
}

/// Creates, opens and removes queues of one backend (gateways create their own reply queue at start and remove
/// it at clean shutdown).
#[async_trait]
pub trait QueueService: Send + Sync + 'static {
    /// Creates the queue (and its dead-letter queue) if it does not exist, and opens it. Idempotent.
    async fn create(
        &self,
        name: &str,
        options: &QueueOptions,
    ) -> Result<Arc<dyn JobQueue>, QueueError>;
    /// Opens an existing queue.
    async fn open(&self, name: &str) -> Result<Arc<dyn JobQueue>, QueueError>;
    /// Opens the queue, creating it only if it does not exist. Roles call this rather than [`create`](Self::create)
    /// so that a queue provisioned by `airq-deploy` (with its own receive limit and tags) is used as it is, and
    /// an identity without `CreateQueue` permission can still work with a provisioned queue.
    async fn open_or_create(
        &self,
        name: &str,
        options: &QueueOptions,
    ) -> Result<Arc<dyn JobQueue>, QueueError> {
        match self.open(name).await {
            Err(QueueError::NoSuchQueue(_)) => self.create(name, options).await,
            other => other,
        }
    }
    /// Removes the queue, its messages and its dead-letter queue. Removing a missing queue is not an error.
    async fn remove(&self, name: &str) -> Result<(), QueueError>;
    /// Checks that the backend is reachable (readiness probes).
    async fn check(&self) -> Result<(), QueueError>;
    /// Marks the queue's owner alive now. [`create`](Self::create) stamps a first heartbeat, so a queue is never
    /// without one while its owner lives; a gateway then beats every [`HEARTBEAT_EVERY`] so that
    /// [`remove_orphans`] can tell its reply queue from one whose gateway died.
    async fn heartbeat(&self, name: &str) -> Result<(), QueueError>;
    /// The queues whose names start with `prefix` (dead-letter queues excepted), with their last heartbeat.
    async fn list(&self, prefix: &str) -> Result<Vec<QueueInfo>, QueueError>;
    fn describe(&self) -> String;
}

/// How often a gateway marks its reply queue alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// How long without a heartbeat before a reply queue counts as orphaned: ten missed beats, so a gateway that is
/// merely slow or briefly cut off from the backend is never taken for dead.
pub const ORPHAN_AFTER: Duration = Duration::from_secs(300);

/// A queue as [`QueueService::list`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub name: String,
    /// The last heartbeat, in milliseconds since the epoch; `None` for a queue that never had one.
    pub heartbeat_ms: Option<i64>,
}

/// Removes the queues under `prefix` whose owner is gone: no heartbeat for `stale_after` (or none ever). Returns
/// their names. Any number of gateways may run this at once: removing a missing queue is not an error. The
/// messages in a removed reply queue are only notices; the answers are in the result store.
pub async fn remove_orphans(
    service: &dyn QueueService,
    prefix: &str,
    stale_after: Duration,
) -> Result<Vec<String>, QueueError> {
    let now = crate::protocol::now_ms();
    let stale = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
    let mut removed = Vec::new();
    for queue in service.list(prefix).await? {
        if queue
            .heartbeat_ms
            .is_none_or(|t| now.saturating_sub(t) > stale)
        {
            service.remove(&queue.name).await?;
            removed.push(queue.name);
        }
    }
    Ok(removed)
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("invalid queue URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("queue {0:?} does not exist")]
    NoSuchQueue(String),
    #[error("message of {size} bytes is over the queue's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("the receipt is no longer valid (the message was delivered again or deleted)")]
    ReceiptExpired,
    #[error("sqlite queue: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("opening the SQLite file: {0}")]
    Open(#[from] crate::sqlite_pool::PoolError),
    #[error("sqlite connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("sqs {operation} on {queue}: {message}")]
    Sqs {
        operation: &'static str,
        queue: String,
        message: String,
        transient: bool,
    },
    #[error("queue task failed: {0}")]
    Task(String),
}

impl QueueError {
    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            QueueError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            QueueError::Store(e) => e.is_transient(),
            QueueError::Open(e) => e.is_transient(),
            QueueError::Pool(_) => true,
            QueueError::Sqs { transient, .. } => *transient,
            QueueError::Task(_) => true,
            _ => false,
        }
    }
}

/// A queue URL: the backend, and the request queue's name on it.
///
/// `sqlite://PATH` (queue `airq-requests` in that file; `sqlite://PATH#NAME` names another) or `sqs://NAME`.
pub async fn open_service(url: &str) -> Result<(Arc<dyn QueueService>, String), QueueError> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let (path, name) = rest
            .split_once('#')
            .unwrap_or((rest, DEFAULT_REQUEST_QUEUE));
        let service = sqlite::SqliteQueues::open(path)?;
        return Ok((Arc::new(service), name.to_string()));
    }
    if let Some(name) = url.strip_prefix("sqs://") {
        if name.is_empty() {
            return Err(QueueError::InvalidUrl {
                url: url.to_string(),
                reason: "the queue name is empty".into(),
            });
        }
        let config = crate::aws::sdk_config().await;
        return Ok((Arc::new(sqs::SqsQueues::new(&config)), name.to_string()));
    }
    Err(QueueError::InvalidUrl {
        url: url.to_string(),
        reason: "expected sqlite://PATH or sqs://QUEUE-NAME".into(),
    })
}

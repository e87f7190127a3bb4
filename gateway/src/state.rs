//! What every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airq_common::queue::{JobQueue, QueueService};
use airq_common::results::ResultStore;
use airq_common::store::ReadingStore;
use tokio::sync::Semaphore;

use crate::waiters::Waiters;

/// The handlers' shared state. A clone is one reference count: every request clones it several times (each
/// middleware's and the handler's `State`), and a field-by-field clone (a dozen counts and a `String`) was ~4% of
/// a cached answer's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Arc<dyn ReadingStore>,
    pub queues: Arc<dyn QueueService>,
    pub requests: Arc<dyn JobQueue>,
    /// Every queued job's record and answer, shared with every other gateway and the workers.
    pub results: Arc<dyn ResultStore>,
    /// This gateway's own reply queue's name, carried in every job it queues.
    pub reply_to: String,
    /// Clients waiting here (`?wait=`) for a job to end, woken by the workers' notices.
    pub waiters: Waiters,
    /// Permits for direct answers: while one is free a query is answered directly, otherwise it is queued.
    pub direct: Arc<Semaphore>,
    /// The permits `direct` started with (`--direct-limit`).
    pub direct_limit: usize,
    pub settings: Settings,
    /// Per-client rates and the queue's bound.
    pub fair: crate::fair_use::FairUse,
    /// Each client's pending queued jobs, bounded.
    pub outstanding: Arc<crate::outstanding::Outstanding>,
    /// When this gateway started (uptime in `/api/status`).
    pub started: std::time::Instant,
    /// `/api/status`, reused for a moment.
    pub status_cache: crate::routes::status::StatusCache,
    /// The accepted API keys; `None` when keys are off.
    pub keys: Option<Arc<airq_common::api_keys::ApiKeys>>,
    /// Hot answers and the data version they are keyed by (shared with this process's workers).
    pub answers: Arc<airq_common::answer::cache::Answers>,
    /// Legacy bodies parsed before.
    pub parsed: crate::parsed::ParsedBodies,
    /// Every direct answer's `Cache-Control` ([`crate::routes::conditional::cache_control`]).
    pub cache_control: axum::http::HeaderValue,
    /// False until the data the gateway serves is ready (standalone: the first ingest has finished).
    pub ready: Arc<AtomicBool>,
}

impl Shared {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Readings per store page on the direct path.
    pub page_size: usize,
    /// Longest `?wait=` honoured.
    pub max_wait: Duration,
    /// Suggested polling interval (`Retry-After`, seconds).
    pub retry_after_secs: u64,
    /// Largest request body accepted (the legacy query body is well under 1 KiB).
    pub max_body: usize,
    /// How long a finished result stays fetchable.
    pub result_ttl: Duration,
    /// A queued job with no answer by then is reported failed (504).
    pub job_deadline: Duration,
    /// Bytes of whole answers kept in memory for repeated questions (`--answer-cache`); 0 turns it off.
    pub answer_cache: u64,
    /// How long a read data version is trusted: the most an answer (cached, or its `ETag`) lags a write.
    pub version_fresh: Duration,
    /// `Cache-Control: max-age` of a direct answer, in seconds.
    pub max_age_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            page_size: airq_common::defaults::PAGE_SIZE,
            max_wait: Duration::from_secs(30),
            retry_after_secs: 1,
            max_body: 64 * 1024,
            result_ttl: Duration::from_secs(600),
            job_deadline: Duration::from_secs(300),
            answer_cache: airq_common::answer::cache::DEFAULT_CACHE_BYTES,
            version_fresh: airq_common::answer::cache::VERSION_FRESH,
            max_age_secs: 60,
        }
    }
}

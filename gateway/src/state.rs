//! What every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airq_common::queue::{JobQueue, QueueService};
use airq_common::store::ReadingStore;
use tokio::sync::Semaphore;

use crate::results::Results;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn ReadingStore>,
    pub queues: Arc<dyn QueueService>,
    pub requests: Arc<dyn JobQueue>,
    /// This gateway's own reply queue's name, carried in every job it queues.
    pub reply_to: String,
    pub results: Results,
    /// Permits for direct answers: while one is free a query is answered directly, otherwise it is queued.
    pub direct: Arc<Semaphore>,
    pub settings: Settings,
    /// False until the data the gateway serves is ready (standalone: the first ingest has finished).
    pub ready: Arc<AtomicBool>,
}

impl AppState {
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            page_size: 2000,
            max_wait: Duration::from_secs(30),
            retry_after_secs: 1,
            max_body: 64 * 1024,
        }
    }
}

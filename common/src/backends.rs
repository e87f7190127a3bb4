//! Opening the three backends a role works with — the reading store, the queues and the result store — from
//! their URLs, in one place for every role.

use std::sync::Arc;

use crate::queue::{QueueError, QueueService};
use crate::results::{ResultError, ResultOptions, ResultStore};
use crate::store::{ReadingStore, StoreError};

/// Where the backends are.
#[derive(Debug, Clone)]
pub struct BackendUrls {
    /// `sqlite://PATH` or `dynamodb://TABLE`.
    pub store: String,
    /// `sqlite://PATH[#QUEUE]` or `sqs://QUEUE`.
    pub queue: String,
    /// `sqlite://PATH` or `dynamodb://TABLE?bucket=BUCKET`; by default the SQLite store's own file.
    pub results: Option<String>,
}

impl Default for BackendUrls {
    fn default() -> Self {
        BackendUrls {
            store: crate::defaults::EMBEDDED_URL.into(),
            queue: crate::defaults::EMBEDDED_URL.into(),
            results: None,
        }
    }
}

impl BackendUrls {
    /// Every backend in the one SQLite file at `path`.
    pub fn embedded(path: &str) -> Self {
        let url = format!("sqlite://{path}");
        BackendUrls {
            store: url.clone(),
            queue: url.clone(),
            results: Some(url),
        }
    }

    /// The result store's URL: as given, or the embedded store's own file.
    pub fn results_url(&self) -> Result<String, BackendError> {
        match &self.results {
            Some(url) => Ok(url.clone()),
            None if self.store.starts_with("sqlite://") => Ok(self.store.clone()),
            None => Err(BackendError::ResultsRequired),
        }
    }
}

/// The backend options every role that queries shares (gateway, worker), on the command line once.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Reading store: sqlite://PATH or dynamodb://TABLE.
    #[arg(long, env = "AIRQ_STORE", default_value = crate::defaults::EMBEDDED_URL)]
    pub store: String,
    /// Request queue: sqlite://PATH (queue airq-requests) or sqs://QUEUE-NAME.
    #[arg(long, env = "AIRQ_QUEUE", default_value = crate::defaults::EMBEDDED_URL)]
    pub queue: String,
    /// Result store for queued answers, shared by every gateway and worker: sqlite://PATH or
    /// dynamodb://TABLE?bucket=BUCKET (default: the SQLite store's file).
    #[arg(long, env = "AIRQ_RESULTS")]
    pub results: Option<String>,
    /// Stored (compressed) answers kept at most: on the embedded store the total on disk (answers already
    /// fetched are evicted first); on AWS the largest one answer. Never held in memory.
    #[arg(long, alias = "result-cache", env = "AIRQ_RESULT_BUDGET", default_value = "1GiB", value_parser = crate::parse_bytes)]
    pub result_budget: u64,
    /// Compressed bytes per stored answer part.
    #[arg(long, default_value = "256KiB", value_parser = crate::parse_bytes)]
    pub part_size: u64,
}

impl BackendArgs {
    pub fn urls(&self) -> BackendUrls {
        BackendUrls {
            store: self.store.clone(),
            queue: self.queue.clone(),
            results: self.results.clone(),
        }
    }

    pub fn result_options(&self) -> ResultOptions {
        ResultOptions {
            budget: self.result_budget,
            part_bytes: usize::try_from(self.part_size).unwrap_or(usize::MAX),
        }
    }
}

/// The open backends, shared by every part of a process.
#[derive(Clone)]
pub struct Backends {
    pub store: Arc<dyn ReadingStore>,
    pub queues: Arc<dyn QueueService>,
    /// The request queue's name on `queues`.
    pub request_queue: String,
    pub results: Arc<dyn ResultStore>,
}

impl Backends {
    pub async fn open(
        urls: &BackendUrls,
        results: ResultOptions,
    ) -> Result<Backends, BackendError> {
        let store = crate::store::open_store(&urls.store).await?;
        let (queues, request_queue) = crate::queue::open_service(&urls.queue).await?;
        let results = crate::results::open_results(&urls.results_url()?, results).await?;
        Ok(Backends {
            store,
            queues,
            request_queue,
            results,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("opening the reading store")]
    Store(#[from] StoreError),
    #[error("opening the queues")]
    Queue(#[from] QueueError),
    #[error("opening the result store")]
    Results(#[from] ResultError),
    #[error("a result store URL (--results dynamodb://TABLE?bucket=BUCKET) is required with a DynamoDB store")]
    ResultsRequired,
}

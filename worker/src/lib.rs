//! airq-worker: takes queued queries off the request queue, answers them from the store, streams each answer
//! into the shared result store and tells the asking gateway.
//!
//! Layout: [`config`] (command line), [`job`] (one job: start, stream the answer, finish, notify, acknowledge),
//! [`notices`] (the asking gateways' reply queues), and [`Worker::run`] here (the receive loop: long poll,
//! bounded concurrency, graceful drain).
//!
//! Delivery is at least once. A job is deleted only after its outcome is recorded in the result store, so a
//! worker that dies mid-job (even mid-stream) loses nothing: the job becomes visible again and another worker
//! answers it under a fresh attempt id; the result store records the first attempt that finishes and ignores
//! the dead one's parts.

pub mod config;
pub mod job;
pub mod notices;

use std::sync::Arc;
use std::time::Duration;

use airq_common::backends::Backends;
use airq_common::queue::{JobQueue, QueueService};
use airq_common::results::ResultStore;
use airq_common::shutdown::{CancellationToken, TaskTracker};
use airq_common::store::ReadingStore;
use tokio::sync::Semaphore;

pub use config::WorkerConfig;

/// How much longer than its long-poll wait a stopping worker gives the receive in flight.
const STOP_RECEIVE_MARGIN: Duration = Duration::from_secs(15);

/// What a worker needs: where readings are, where jobs come from, where answers go, and how to reach the
/// gateways' reply queues.
#[derive(Clone)]
pub struct Worker {
    pub store: Arc<dyn ReadingStore>,
    pub results: Arc<dyn ResultStore>,
    pub requests: Arc<dyn JobQueue>,
    pub settings: Settings,
    notices: notices::Notices,
    /// The answer cache of the process this worker runs in (a standalone gateway's), when it shares one: a
    /// queued question answered a moment ago on the direct path is then not read again.
    answers: Option<Arc<airq_common::answer::cache::Answers>>,
}

/// Tunables, with the defaults the issue and SQS practice suggest.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Jobs run at once.
    pub concurrency: usize,
    /// Long-poll wait per receive (SQS allows up to 20 s).
    pub wait: Duration,
    /// Visibility timeout at receive; extended by a heartbeat at half this interval while a job runs.
    pub visibility: Duration,
    /// Readings per store page.
    pub page_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 4,
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(60),
            page_size: airq_common::defaults::PAGE_SIZE,
        }
    }
}

impl Worker {
    pub fn new(backends: &Backends, requests: Arc<dyn JobQueue>, settings: Settings) -> Self {
        Worker::from_parts(
            backends.store.clone(),
            backends.results.clone(),
            backends.queues.clone(),
            requests,
            settings,
        )
    }

    pub fn from_parts(
        store: Arc<dyn ReadingStore>,
        results: Arc<dyn ResultStore>,
        queues: Arc<dyn QueueService>,
        requests: Arc<dyn JobQueue>,
        settings: Settings,
    ) -> Self {
        Worker {
            store,
            results,
            requests,
            settings,
            notices: notices::Notices::new(queues),
            answers: None,
        }
    }

    /// Answers through `answers` (a cache shared with the gateway in this process).
    pub fn with_answers(mut self, answers: Arc<airq_common::answer::cache::Answers>) -> Self {
        self.answers = Some(answers);
        self
    }

    /// Receives and runs jobs until `stop` is cancelled, then stops receiving and finishes the jobs in hand.
    pub async fn run(self, stop: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let tasks = TaskTracker::new();
        let presence = tokio::spawn(mark_seen(self.results.clone(), stop.clone()));
        // The receive's own stop: cancelled only once the worker has decided to stop, so that a receive that
        // has begun is awaited, never dropped.
        let stop_receive = CancellationToken::new();
        loop {
            // Wait for a free slot first, so that received jobs never wait for a slot while invisible.
            let first = tokio::select! {
                _ = stop.cancelled() => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let free = permits.available_permits() + 1;
            let receive = self.requests.receive_until(
                free.min(10),
                self.settings.wait,
                self.settings.visibility,
                &stop_receive,
            );
            tokio::pin!(receive);
            let (messages, stopping) = tokio::select! {
                // The receive in flight is told to stop and then awaited, never dropped: it may already have
                // taken jobs off the queue (SQS answers a long poll that has begun; the SQLite queue's take runs
                // on a blocking thread), and a dropped call would leave them invisible for a whole visibility
                // timeout. What it took is run as jobs in hand.
                _ = stop.cancelled() => {
                    stop_receive.cancel();
                    // Bounded all the same (a stalled connection, the SDK's retries): a stop must finish
                    // within the service manager's stop timeout.
                    let bound = self.settings.wait + STOP_RECEIVE_MARGIN;
                    match tokio::time::timeout(bound, &mut receive).await {
                        Ok(got) => (got, true),
                        Err(_) => {
                            tracing::warn!(waited = ?bound, "the receive in flight did not finish; stopping without it");
                            break;
                        }
                    }
                }
                got = &mut receive => (got, false),
            };
            let messages = match messages {
                Ok(m) => m,
                Err(e) if stopping => {
                    tracing::warn!(error = %e, "the last receive failed while stopping");
                    break;
                }
                Err(e) => {
                    metrics::counter!(airq_common::metrics::WORKER_RECEIVE_ERRORS).increment(1);
                    tracing::warn!(error = %e, "receive failed; retrying");
                    drop(first);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut first = Some(first);
            for message in messages {
                let permit = match first.take() {
                    Some(p) => p,
                    None => match permits.clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let worker = self.clone();
                tasks.spawn(async move {
                    worker.handle(message).await;
                    drop(permit);
                });
            }
            if stopping {
                break;
            }
        }
        tasks.close();
        tracing::info!(
            jobs_in_hand = tasks.len(),
            "worker stopping; finishing jobs in hand"
        );
        tasks.wait().await;
        presence.abort();
        tracing::info!("worker stopped; every job in hand was finished");
    }
}

/// This worker's name in the list of workers seen (`/api/status`): the host and a random suffix, so that
/// several workers on one host (and standalone's in-process ones) are told apart.
fn member_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

/// Marks this worker seen every [`SEEN_EVERY`] until stopped (failures are logged and retried next time: the
/// list is for people, jobs never depend on it).
async fn mark_seen(results: Arc<dyn ResultStore>, stop: CancellationToken) {
    let name = member_name();
    let mut tick = tokio::time::interval(airq_common::results::SEEN_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = results.seen(&name).await {
                    tracing::debug!(error = %e, "could not mark this worker seen");
                }
            }
        }
    }
}

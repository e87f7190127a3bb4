//! airq-worker: takes queued queries off the request queue, answers them from the store, and posts the CSV to
//! the reply queue of the gateway that asked.
//!
//! Layout: [`config`] (command line), [`job`] (one job: query, encode, reply, acknowledge), and [`run`] here
//! (the receive loop: long poll, bounded concurrency, graceful drain).
//!
//! Delivery is at least once. A job is deleted only after its answer (or its error) has been posted, so a worker
//! that dies mid-job loses nothing: the job becomes visible again and another worker answers it. A duplicate
//! answer is harmless because the gateway ignores replies for ids it has finished.

pub mod config;
pub mod job;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use airq_common::queue::{CancellationToken, JobQueue, QueueService};
use airq_common::store::ReadingStore;
use tokio::sync::Semaphore;

pub use config::WorkerConfig;

/// How much longer than its long-poll wait a stopping worker gives the receive in flight.
const STOP_RECEIVE_MARGIN: Duration = Duration::from_secs(15);

/// What a worker needs: where readings are, where jobs come from, and how to reach reply queues.
#[derive(Clone)]
pub struct Worker {
    pub store: Arc<dyn ReadingStore>,
    pub queues: Arc<dyn QueueService>,
    pub requests: Arc<dyn JobQueue>,
    pub settings: Settings,
    replies: job::ReplyQueues,
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
    /// The largest reply message; answers are split into parts of at most this size.
    pub max_message_bytes: usize,
    /// Readings per store page.
    pub page_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 4,
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(60),
            max_message_bytes: airq_common::queue::DEFAULT_MAX_MESSAGE_BYTES,
            page_size: 5000,
        }
    }
}

impl Worker {
    pub fn new(
        store: Arc<dyn ReadingStore>,
        queues: Arc<dyn QueueService>,
        requests: Arc<dyn JobQueue>,
        settings: Settings,
    ) -> Self {
        Worker {
            store,
            queues: queues.clone(),
            requests,
            settings,
            replies: job::ReplyQueues::new(queues),
        }
    }

    /// Receives and runs jobs until `shutdown` completes, then stops receiving and finishes the jobs in hand.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let stop = CancellationToken::new();
        tokio::pin!(shutdown);
        loop {
            // Wait for a free slot first, so that received jobs never wait for a slot while invisible.
            let first = tokio::select! {
                _ = &mut shutdown => break,
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
                &stop,
            );
            tokio::pin!(receive);
            let (messages, stopping) = tokio::select! {
                // The receive in flight is told to stop and then awaited, never dropped: it may already have
                // taken jobs off the queue (SQS answers a long poll that has begun; the SQLite queue's take runs
                // on a blocking thread), and a dropped call would leave them invisible for a whole visibility
                // timeout. What it took is run as jobs in hand.
                _ = &mut shutdown => {
                    stop.cancel();
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
            while tasks.try_join_next().is_some() {}
            if stopping {
                break;
            }
        }
        tracing::info!(
            jobs_in_hand = tasks.len(),
            "worker stopping; finishing jobs in hand"
        );
        while tasks.join_next().await.is_some() {}
        tracing::info!("worker stopped; every job in hand was finished");
    }
}

//! A gateway's background tasks, each until its stop token is cancelled:
//! - [`notices`]: long-polls this gateway's own reply queue, wakes the clients waiting on each job, and frees
//!   a finished job's slot in its client's bound;
//! - [`heartbeat`]: marks the reply queue alive, so that other gateways' sweeps leave it alone;
//! - [`sweep`]: makes timeouts and expiry permanent in the result store, frees the space of expired answers,
//!   and removes reply queues whose gateway died (any gateway may do it; doing it twice is harmless).

use std::sync::Arc;
use std::time::Duration;

use airq_common::protocol::Notice;
use airq_common::queue::{remove_orphans, JobQueue, QueueService, Receipt};
use airq_common::results::ResultStore;
use airq_common::shutdown::CancellationToken;

use crate::waiters::Waiters;

/// Wakes waiters on each notice; notices are deleted once read (they only wake, nothing is kept).
pub async fn notices(
    queue: Arc<dyn JobQueue>,
    waiters: Waiters,
    outstanding: Arc<crate::outstanding::Outstanding>,
    stop: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return,
            got = queue.receive_until(10, Duration::from_secs(20), Duration::from_secs(30), &stop) => got,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) if stop.is_cancelled() => {
                tracing::debug!(error = %e, "reply queue receive ended by the stop");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reply queue receive failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        let mut done: Vec<Receipt> = Vec::with_capacity(messages.len());
        for message in messages {
            match serde_json::from_str::<Notice>(&message.body) {
                Ok(notice) => {
                    if let Notice::Finished { id } = notice {
                        outstanding.release(&id);
                    }
                    waiters.wake(&notice.id())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a reply-queue message is not a notice; dropping it")
                }
            }
            done.push(message.receipt);
        }
        if let Err(e) = queue.delete(&done).await {
            tracing::warn!(error = %e, "could not delete notices; they will be seen again (harmless)");
        }
    }
}

/// Marks the reply queue alive every `every`.
pub async fn heartbeat(
    queues: Arc<dyn QueueService>,
    name: String,
    every: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(e) = queues.heartbeat(&name).await {
                    tracing::warn!(reply_queue = %name, error = %e, "could not mark the reply queue alive");
                }
            }
        }
    }
}

/// What the sweeper looks after, and how often.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub every: Duration,
    /// Reply queues are named `<prefix>-<uuid>`.
    pub reply_prefix: String,
    pub orphan_after: Duration,
}

/// Sweeps the result store and the reply queues every `plan.every`.
pub async fn sweep(
    results: Arc<dyn ResultStore>,
    queues: Arc<dyn QueueService>,
    plan: SweepPlan,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(plan.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let prefix = format!("{}-", plan.reply_prefix);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match results.sweep().await {
            Ok(report) if report != Default::default() => {
                use airq_common::metrics::{JOBS_TIMED_OUT, RESULTS_EVICTED, RESULTS_EXPIRED};
                metrics::counter!(JOBS_TIMED_OUT).increment(report.timed_out);
                metrics::counter!(RESULTS_EXPIRED).increment(report.expired);
                metrics::counter!(RESULTS_EVICTED).increment(report.evicted);
                tracing::debug!(?report, "result store swept")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "result store sweep failed; retrying at the next tick")
            }
        }
        match remove_orphans(queues.as_ref(), &prefix, plan.orphan_after).await {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(?removed, "removed reply queues whose gateway is gone")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reply queue sweep failed; retrying at the next tick")
            }
        }
    }
}

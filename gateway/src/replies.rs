//! The reply consumer: long-polls this gateway's own reply queue and files each reply under its job id.

use std::time::Duration;

use airq_common::job::ReplyPart;
use airq_common::queue::{JobQueue, Receipt};
use std::sync::Arc;

use crate::results::Results;

/// Runs until `shutdown` completes. Replies are deleted once filed; a reply that is not valid JSON is logged
/// and deleted (it can never become valid, and nobody else reads this queue).
pub async fn consume(
    queue: Arc<dyn JobQueue>,
    results: Results,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        // Keep the in-flight receive and race it against shutdown rather than dropping it on every tick.
        let received = tokio::select! {
            _ = &mut shutdown => return,
            got = queue.receive(10, Duration::from_secs(20), Duration::from_secs(30)) => got,
        };
        let messages = match received {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "reply queue receive failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut done: Vec<Receipt> = Vec::with_capacity(messages.len());
        for message in messages {
            match serde_json::from_str::<ReplyPart>(&message.body) {
                Ok(part) => results.apply(part),
                Err(e) => tracing::warn!(error = %e, "reply is not valid; dropping it"),
            }
            done.push(message.receipt);
        }
        if let Err(e) = queue.delete(&done).await {
            tracing::warn!(error = %e, "could not delete replies; they will be seen again and ignored");
        }
    }
}

/// Expires results and fails late jobs, every `every`, until `shutdown` completes.
pub async fn sweep(
    results: Results,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => results.sweep(),
        }
    }
}

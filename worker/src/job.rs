//! One job: parse, announce, query, encode, reply, acknowledge.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airq_common::csv_out::CsvEncoder;
use airq_common::job::{encode_answer, Job, ReplyPart};
use airq_common::queue::{JobQueue, Message, QueueError, QueueService};
use futures::StreamExt;
use tracing::Instrument;

use crate::Worker;

/// Reply queues by name, opened once each.
#[derive(Clone)]
pub(crate) struct ReplyQueues {
    service: Arc<dyn QueueService>,
    open: Arc<Mutex<HashMap<String, Arc<dyn JobQueue>>>>,
}

impl ReplyQueues {
    pub(crate) fn new(service: Arc<dyn QueueService>) -> Self {
        ReplyQueues {
            service,
            open: Default::default(),
        }
    }

    async fn get(&self, name: &str) -> Result<Arc<dyn JobQueue>, QueueError> {
        if let Some(q) = self.lock().get(name) {
            return Ok(q.clone());
        }
        let queue = self.service.open(name).await?;
        self.lock().insert(name.to_string(), queue.clone());
        Ok(queue)
    }

    fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn JobQueue>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How a job ended, for the decision to acknowledge it.
enum Outcome {
    /// Answered (or answered with an error): delete the job.
    Done,
    /// Nobody can ever use an answer (the gateway's reply queue is gone): delete the job.
    Abandoned,
    /// A failure that may pass: leave the job for redelivery (and the dead-letter queue after N receives).
    Retry,
}

impl Worker {
    pub(crate) async fn handle(&self, message: Message) {
        let job: Job = match serde_json::from_str(&message.body) {
            Ok(job) => job,
            Err(e) => {
                // Without an id and a reply queue nobody can be told. Leave it: after its last receive it moves
                // to the dead-letter queue, where an operator can inspect it.
                tracing::warn!(message_id = %message.id, receive_count = message.receive_count, error = %e,
                    "job payload is not valid; leaving it for the dead-letter queue");
                return;
            }
        };
        let span =
            tracing::info_span!("job", job_id = %job.id, receive_count = message.receive_count);
        let outcome = self.run_job(&job, &message).instrument(span.clone()).await;
        let _enter = span.enter();
        match outcome {
            Outcome::Done | Outcome::Abandoned => {
                if let Err(e) = self.requests.delete(&[message.receipt]).await {
                    tracing::warn!(error = %e, "could not delete the finished job; it may be answered twice");
                }
            }
            Outcome::Retry => tracing::info!("job left for redelivery"),
        }
    }

    async fn run_job(&self, job: &Job, message: &Message) -> Outcome {
        let replies = match self.replies.get(&job.reply_to).await {
            Ok(q) => q,
            Err(QueueError::NoSuchQueue(_)) => {
                tracing::info!(reply_to = %job.reply_to, "the asking gateway is gone; dropping the job");
                return Outcome::Abandoned;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reply queue unreachable");
                return Outcome::Retry;
            }
        };
        let send = |bodies: Vec<String>| {
            let replies = replies.clone();
            async move { replies.send(&bodies).await }
        };
        if job.query.start > job.query.end || job.query.min_aqi > job.query.max_aqi {
            let failed = ReplyPart::Failed {
                id: job.id,
                http_status: 400,
                error: "the query's bounds are inverted".into(),
                field: None,
            };
            return match send(vec![to_json(&failed)]).await {
                Ok(()) => Outcome::Done,
                Err(e) => self.send_failed(&job.reply_to, e),
            };
        }
        // Tell the gateway the job is running; losing this notice is harmless.
        let _ = send(vec![to_json(&ReplyPart::Running { id: job.id })]).await;

        let heartbeat = self.heartbeat(message.receipt.clone());
        let answer = self.answer(job).await;
        heartbeat.abort();
        let bodies = match answer {
            Ok(bodies) => bodies,
            Err(Failure::Transient(e)) => {
                tracing::warn!(error = %e, "query failed; will retry");
                return Outcome::Retry;
            }
            Err(Failure::Permanent(e)) => {
                tracing::error!(error = %e, "job failed");
                vec![to_json(&ReplyPart::Failed {
                    id: job.id,
                    http_status: 500,
                    error: "the query could not be answered".into(),
                    field: None,
                })]
            }
        };
        match send(bodies).await {
            Ok(()) => Outcome::Done,
            Err(e) => self.send_failed(&job.reply_to, e),
        }
    }

    fn send_failed(&self, reply_to: &str, e: QueueError) -> Outcome {
        if matches!(e, QueueError::NoSuchQueue(_)) {
            self.replies.forget(reply_to);
            return Outcome::Abandoned;
        }
        tracing::warn!(error = %e, "could not post the answer; will retry");
        Outcome::Retry
    }

    /// Runs the query and encodes the answer as reply messages.
    async fn answer(&self, job: &Job) -> Result<Vec<String>, Failure> {
        let mut pages = self.store.query(&job.query, self.settings.page_size);
        let mut encoder = CsvEncoder::new();
        encoder.write_header();
        let mut csv = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                if e.is_transient() {
                    Failure::Transient(e.to_string())
                } else {
                    Failure::Permanent(e.to_string())
                }
            })?;
            for reading in &page.readings {
                encoder.write(reading);
            }
            csv.extend_from_slice(&encoder.take());
        }
        csv.extend_from_slice(&encoder.take());
        encode_answer(job.id, &csv, self.settings.max_message_bytes)
            .map_err(|e| Failure::Permanent(e.to_string()))
    }

    /// Extends the job's visibility at half its timeout until aborted.
    fn heartbeat(&self, receipt: airq_common::queue::Receipt) -> tokio::task::JoinHandle<()> {
        let queue = self.requests.clone();
        let visibility = self.settings.visibility;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(visibility / 2);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = queue.extend(&receipt, visibility).await {
                    tracing::warn!(error = %e, "could not extend the job's visibility");
                }
            }
        })
    }
}

enum Failure {
    Transient(String),
    Permanent(String),
}

fn to_json(part: &ReplyPart) -> String {
    // Serializing these plain structs cannot fail; an empty body would be rejected by the gateway, not lost.
    serde_json::to_string(part).unwrap_or_default()
}

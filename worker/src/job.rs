//! One job: read it, start it in the result store, stream the answer into the store, finish, notify the asking
//! gateway, acknowledge.

use airq_common::answer::{answer, Ask};
use airq_common::protocol::{FailReason, Job, Notice};
use airq_common::queue::{Message, Receipt};
use airq_common::results::answer::AnswerWriter;
use airq_common::results::{Failure, JobStatus, Outcome, ResultError};
use airq_common::Query;
use futures::StreamExt;
use serde::Deserialize;
use tracing::Instrument;
use uuid::Uuid;

use crate::Worker;
use airq_common::metrics::{WORKER_IN_PROGRESS, WORKER_JOBS, WORKER_JOB_DURATION, WORKER_JOB_WAIT};

/// A job whose query has not been validated yet: a job that names its id can always be answered, even when its
/// query is not valid (an older or foreign gateway), instead of circling to the dead-letter queue.
#[derive(Deserialize)]
struct Envelope {
    id: Uuid,
    reply_to: String,
    query: serde_json::Value,
    /// The question and format; absent in a job from an older gateway (readings as CSV).
    #[serde(default)]
    ask: serde_json::Value,
    /// When the gateway accepted it (ms since the epoch), for the queue-wait metric; 0 when absent.
    #[serde(default)]
    submitted_at: i64,
}

/// How a job ended, for the decision to acknowledge it.
enum Next {
    /// The outcome is recorded (or nobody can use one): delete the job. The label is the outcome's, for
    /// `airq_worker_jobs_total`.
    Delete(&'static str),
    /// A failure that may pass: leave the job for redelivery (and the dead-letter queue after N receives).
    Retry,
}

/// Why streaming an answer stopped.
enum StreamError {
    Store(airq_common::StoreError),
    Results(ResultError),
}

impl Worker {
    pub(crate) async fn handle(&self, message: Message) {
        let envelope: Envelope = match serde_json::from_str(&message.body) {
            Ok(e) => e,
            Err(e) => {
                // Without an id nobody can be told. Leave it: after its last receive it moves to the dead-letter
                // queue, where an operator can inspect it.
                tracing::warn!(message_id = %message.id, receive_count = message.receive_count, error = %e,
                    "job payload is not valid; leaving it for the dead-letter queue");
                return;
            }
        };
        let span = tracing::info_span!("job", job_id = %envelope.id, receive_count = message.receive_count);
        if envelope.submitted_at > 0 {
            let waited = airq_common::protocol::now_ms().saturating_sub(envelope.submitted_at);
            metrics::histogram!(WORKER_JOB_WAIT).record(waited.max(0) as f64 / 1000.0);
        }
        let started = std::time::Instant::now();
        metrics::gauge!(WORKER_IN_PROGRESS).increment(1.0);
        let next = self
            .run_job(envelope, &message)
            .instrument(span.clone())
            .await;
        metrics::gauge!(WORKER_IN_PROGRESS).decrement(1.0);
        let outcome = match next {
            Next::Delete(outcome) => outcome,
            Next::Retry => "retried",
        };
        metrics::counter!(WORKER_JOBS, "outcome" => outcome).increment(1);
        metrics::histogram!(WORKER_JOB_DURATION, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        // Instrumented, never `span.enter()`: a guard held across an await leaves the span entered on a thread
        // that runs other tasks meanwhile, and tracing then panics making their spans (seen in the soak
        // benchmark: "tried to clone Id(..), but no span exists"). clippy.toml forbids holding one.
        async {
            match next {
                Next::Delete(_) => {
                    if let Err(e) = self.requests.delete(&[message.receipt]).await {
                        tracing::warn!(error = %e, "could not delete the finished job; it may be run twice (harmlessly)");
                    }
                }
                Next::Retry => tracing::info!("job left for redelivery"),
            }
        }
        .instrument(span)
        .await
    }

    async fn run_job(&self, envelope: Envelope, message: &Message) -> Next {
        let id = envelope.id;
        let mut job = serde_json::json!({
            "id": id, "query": envelope.query, "reply_to": envelope.reply_to, "submitted_at": 0,
        });
        if !envelope.ask.is_null() {
            job["ask"] = envelope.ask;
        }
        let (query, ask) = match serde_json::from_value::<Job>(job) {
            Ok(job) => (job.query, job.ask),
            Err(e) => {
                let failure = Failure {
                    reason: FailReason::InvalidQuery,
                    message: format!("the queued query is not valid: {e}"),
                    field: None,
                };
                return self
                    .record(
                        id,
                        &envelope.reply_to,
                        Outcome::Failed(failure),
                        "failed_invalid",
                    )
                    .await;
            }
        };
        match self.results.start(id).await {
            Ok(status) if status.is_pending() => {}
            Ok(JobStatus::Unknown) => {
                tracing::info!("no record of this job (expired, or never created); dropping it");
                return Next::Delete("dropped");
            }
            Ok(status) => {
                tracing::info!(
                    ?status,
                    "the job has already ended (answered, cancelled or timed out)"
                );
                return Next::Delete("dropped");
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not start the job in the result store");
                return Next::Retry;
            }
        }
        self.notices
            .send(&envelope.reply_to, Notice::Running { id })
            .await;
        let heartbeat = self.heartbeat(message.receipt.clone());
        let streamed = self.stream_answer(id, &query, ask).await;
        heartbeat.abort();
        match streamed {
            Ok(true) => {
                self.notices
                    .send(&envelope.reply_to, Notice::Finished { id })
                    .await;
                Next::Delete("answered")
            }
            Ok(false) => {
                tracing::info!(
                    "another attempt finished first, or the job was cancelled or timed out"
                );
                Next::Delete("dropped")
            }
            Err(StreamError::Store(e)) if e.is_unavailable() => {
                // Busy, unreachable or damaged: an outage that may end, not this query's fault.
                tracing::warn!(error = %e, "store failed; will retry");
                Next::Retry
            }
            Err(StreamError::Results(e)) if e.is_transient() => {
                tracing::warn!(error = %e, "result store failed; will retry");
                Next::Retry
            }
            Err(StreamError::Results(ResultError::TooLarge { size, limit })) => {
                let failure = Failure {
                    reason: FailReason::TooLarge,
                    message: format!(
                        "the answer is larger than the {limit} bytes (compressed) kept for one answer \
                         (passed at {size}); narrow the query"
                    ),
                    field: None,
                };
                self.record(
                    id,
                    &envelope.reply_to,
                    Outcome::Failed(failure),
                    "failed_too_large",
                )
                .await
            }
            Err(e) => {
                let cause = match e {
                    StreamError::Store(e) => e.to_string(),
                    StreamError::Results(e) => e.to_string(),
                };
                tracing::error!(error = %cause, "job failed");
                let failure = Failure {
                    reason: FailReason::Internal,
                    message: "the query could not be answered".into(),
                    field: None,
                };
                self.record(
                    id,
                    &envelope.reply_to,
                    Outcome::Failed(failure),
                    "failed_internal",
                )
                .await
            }
        }
    }

    /// Records a final outcome and tells the gateway.
    async fn record(
        &self,
        id: Uuid,
        reply_to: &str,
        outcome: Outcome,
        label: &'static str,
    ) -> Next {
        match self.results.finish(id, outcome).await {
            Ok(_) => {
                self.notices.send(reply_to, Notice::Finished { id }).await;
                Next::Delete(label)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record the job's outcome; will retry");
                Next::Retry
            }
        }
    }

    /// Streams the answer page by page: store page → the answer's format (the same function as the gateway's
    /// direct path, so the bytes are the same) → gzip → a part stored as each fills. Returns whether this
    /// attempt's answer is the one recorded.
    async fn stream_answer(&self, id: Uuid, query: &Query, ask: Ask) -> Result<bool, StreamError> {
        let mut chunks = match &self.answers {
            Some(answers) => {
                let key = answers.key(query, ask).await.map_err(StreamError::Store)?;
                answers.answer(key, &self.store, query, ask, self.settings.page_size)
            }
            None => answer(&self.store, query, ask, self.settings.page_size),
        };
        let mut writer = AnswerWriter::new(self.results.clone(), id);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(StreamError::Store)?;
            writer.write(&chunk).await.map_err(StreamError::Results)?;
        }
        writer.finish().await.map_err(StreamError::Results)
    }

    /// Extends the job's visibility at half its timeout until aborted.
    fn heartbeat(&self, receipt: Receipt) -> tokio::task::JoinHandle<()> {
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

//! The SQS job queue.
//!
//! Poison messages are handled by SQS itself: every queue created with a receive limit gets a `<name>-dlq`
//! dead-letter queue and a redrive policy, so a message received `max_receives` times without being deleted
//! moves there instead of being delivered forever. Sends and deletes go in batches of ten (the API's limit, and
//! at most 256 KiB per batch) and every batch's failed entries are checked: a partial failure is retried or
//! reported, never ignored. Receives long-poll (up to 20 s per call, the API's limit) so idle consumers cost
//! one request per 20 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use super::{
    CancellationToken, JobQueue, Message, QueueDepth, QueueError, QueueOptions, QueueService,
    Receipt,
};

/// SQS's limits per batch request.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;
/// SQS's longest long poll.
const MAX_WAIT_SECS: u64 = 20;
/// Retries of a batch's failed (not sender-fault) entries.
const SEND_ATTEMPTS: u32 = 5;

/// The dead-letter queue of a queue: one naming rule, shared with `airq-deploy`.
pub fn dlq_name(name: &str) -> String {
    format!("{name}-dlq")
}

fn is_missing_queue(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
    )
}

fn sqs_error<E, R>(operation: &'static str, queue: &str, err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if is_missing_queue(err.code()) {
        return QueueError::NoSuchQueue(queue.to_string());
    }
    let failure = crate::aws::error::classify(&err);
    QueueError::Sqs {
        operation,
        queue: queue.to_string(),
        message: failure.message,
        transient: failure.transient,
    }
}

fn build_error(queue: &str, e: aws_sdk_sqs::error::BuildError) -> QueueError {
    QueueError::Sqs {
        operation: "build request",
        queue: queue.to_string(),
        message: e.to_string(),
        transient: false,
    }
}

/// The `RedrivePolicy` attribute that sends a message to the dead-letter queue `dlq_arn` after `max_receives`
/// receives (one definition, shared with `airq-deploy`).
pub fn redrive_policy(dlq_arn: &str, max_receives: u32) -> String {
    serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string() })
        .to_string()
}

/// The queues of one AWS account and region.
#[derive(Clone)]
pub struct SqsQueues {
    client: Client,
    urls: Arc<Mutex<HashMap<String, String>>>,
    max_message_bytes: usize,
}

impl SqsQueues {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SqsQueues {
            client: Client::new(config),
            urls: Default::default(),
            max_message_bytes: super::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Sets the largest message accepted (default 256 KiB, which every SQS deployment and emulator accepts).
    pub fn with_max_message_bytes(mut self, limit: usize) -> Self {
        self.max_message_bytes = limit;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn cached(&self, name: &str) -> Option<String> {
        self.urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    fn remember(&self, name: &str, url: &str) {
        self.urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), url.to_string());
    }

    fn forget(&self, name: &str) {
        self.urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// The queue's URL, looked up once.
    pub async fn url(&self, name: &str) -> Result<String, QueueError> {
        if let Some(url) = self.cached(name) {
            return Ok(url);
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| sqs_error("GetQueueUrl", name, e))?;
        let url = out
            .queue_url()
            .ok_or_else(|| QueueError::NoSuchQueue(name.to_string()))?
            .to_string();
        self.remember(name, &url);
        Ok(url)
    }

    async fn create_one(&self, name: &str, redrive: Option<String>) -> Result<String, QueueError> {
        let mut request = self.client.create_queue().queue_name(name);
        if let Some(policy) = redrive {
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
        }
        let out = request
            .send()
            .await
            .map_err(|e| sqs_error("CreateQueue", name, e))?;
        let url = out
            .queue_url()
            .ok_or_else(|| QueueError::NoSuchQueue(name.to_string()))?
            .to_string();
        self.remember(name, &url);
        Ok(url)
    }

    async fn arn(&self, name: &str, url: &str) -> Result<String, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sqs_error("GetQueueAttributes", name, e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| QueueError::NoSuchQueue(name.to_string()))
    }

    fn handle(&self, name: &str, url: String) -> Arc<dyn JobQueue> {
        Arc::new(SqsQueue {
            client: self.client.clone(),
            name: name.to_string(),
            url,
            service: self.clone(),
            max_message_bytes: self.max_message_bytes,
        })
    }
}

#[async_trait]
impl QueueService for SqsQueues {
    async fn create(
        &self,
        name: &str,
        options: &QueueOptions,
    ) -> Result<Arc<dyn JobQueue>, QueueError> {
        let redrive = if options.max_receives > 0 {
            let dlq = dlq_name(name);
            let dlq_url = self.create_one(&dlq, None).await?;
            let arn = self.arn(&dlq, &dlq_url).await?;
            Some(redrive_policy(&arn, options.max_receives))
        } else {
            None
        };
        let url = match self.create_one(name, redrive).await {
            Ok(url) => url,
            // The queue exists with other attributes (an older receive limit): use it as it is.
            Err(QueueError::Sqs { message, .. }) if message.contains("QueueAlreadyExists") => {
                self.url(name).await?
            }
            Err(e) => return Err(e),
        };
        self.tag_heartbeat(name, &url).await?;
        Ok(self.handle(name, url))
    }

    async fn open(&self, name: &str) -> Result<Arc<dyn JobQueue>, QueueError> {
        let url = self.url(name).await?;
        Ok(self.handle(name, url))
    }

    async fn remove(&self, name: &str) -> Result<(), QueueError> {
        for queue in [name.to_string(), dlq_name(name)] {
            let url = match self.url(&queue).await {
                Ok(url) => url,
                Err(QueueError::NoSuchQueue(_)) => continue,
                Err(e) => return Err(e),
            };
            match self.client.delete_queue().queue_url(&url).send().await {
                Ok(_) => {}
                Err(e) if is_missing_queue(e.code()) => {}
                Err(e) => return Err(sqs_error("DeleteQueue", &queue, e)),
            }
            self.forget(&queue);
        }
        Ok(())
    }

    async fn check(&self) -> Result<(), QueueError> {
        self.client
            .list_queues()
            .max_results(1)
            .send()
            .await
            .map_err(|e| sqs_error("ListQueues", "-", e))?;
        Ok(())
    }

    async fn heartbeat(&self, name: &str) -> Result<(), QueueError> {
        let url = self.url(name).await?;
        self.tag_heartbeat(name, &url).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<super::QueueInfo>, QueueError> {
        let mut urls = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_queues()
                .queue_name_prefix(prefix)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sqs_error("ListQueues", prefix, e))?;
            urls.extend(page.queue_urls().iter().cloned());
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        let mut queues = Vec::new();
        for url in urls {
            let Some(name) = url.rsplit('/').next().map(str::to_string) else {
                continue;
            };
            if !name.starts_with(prefix) || name.ends_with("-dlq") {
                continue;
            }
            let tags = match self.client.list_queue_tags().queue_url(&url).send().await {
                Ok(tags) => tags,
                // Removed since it was listed (another sweeper, a gateway stopping): not there any more.
                Err(e) if is_missing_queue(e.code()) => continue,
                Err(e) => return Err(sqs_error("ListQueueTags", &name, e)),
            };
            let heartbeat_ms = tags
                .tags()
                .and_then(|t| t.get(HEARTBEAT_TAG))
                .and_then(|v| v.parse().ok());
            queues.push(super::QueueInfo { name, heartbeat_ms });
        }
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(queues)
    }

    fn describe(&self) -> String {
        "sqs".to_string()
    }
}

/// The queue tag holding the owner's last heartbeat (milliseconds since the epoch): SQS tags are the one
/// place a queue can carry it without another service.
pub const HEARTBEAT_TAG: &str = "airq:heartbeat";

impl SqsQueues {
    async fn tag_heartbeat(&self, name: &str, url: &str) -> Result<(), QueueError> {
        match self
            .client
            .tag_queue()
            .queue_url(url)
            .tags(HEARTBEAT_TAG, crate::protocol::now_ms().to_string())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_missing_queue(e.code()) => {
                self.forget(name);
                Err(QueueError::NoSuchQueue(name.to_string()))
            }
            Err(e) => Err(sqs_error("TagQueue", name, e)),
        }
    }
}

/// One SQS queue.
pub struct SqsQueue {
    client: Client,
    name: String,
    url: String,
    service: SqsQueues,
    max_message_bytes: usize,
}

/// Groups bodies into batches of at most 10 entries and 256 KiB.
fn send_batches(bodies: &[String]) -> Vec<Vec<(usize, &String)>> {
    let mut batches: Vec<Vec<(usize, &String)>> = Vec::new();
    let mut bytes = 0;
    for (i, body) in bodies.iter().enumerate() {
        let full = batches
            .last()
            .is_none_or(|b| b.len() >= BATCH_ENTRIES || bytes + body.len() > BATCH_BYTES);
        if full {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += body.len();
        if let Some(batch) = batches.last_mut() {
            batch.push((i, body));
        }
    }
    batches
}

#[async_trait]
impl JobQueue for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, bodies: &[String]) -> Result<(), QueueError> {
        if let Some(big) = bodies.iter().find(|b| b.len() > self.max_message_bytes) {
            return Err(QueueError::TooLarge {
                size: big.len(),
                limit: self.max_message_bytes,
            });
        }
        for batch in send_batches(bodies) {
            let mut pending: Vec<(usize, &String)> = batch;
            let mut attempt = 0;
            while !pending.is_empty() {
                let entries = pending
                    .iter()
                    .map(|(i, body)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body.as_str())
                            .build()
                            .map_err(|e| build_error(&self.name, e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sqs_error("SendMessageBatch", &self.name, e))?;
                if out.failed().is_empty() {
                    break;
                }
                if let Some(fault) = out.failed().iter().find(|f| f.sender_fault()) {
                    return Err(QueueError::Sqs {
                        operation: "SendMessageBatch",
                        queue: self.name.clone(),
                        message: format!(
                            "entry refused: {} {}",
                            fault.code(),
                            fault.message().unwrap_or("")
                        ),
                        transient: false,
                    });
                }
                attempt += 1;
                if attempt >= SEND_ATTEMPTS {
                    return Err(QueueError::Sqs {
                        operation: "SendMessageBatch",
                        queue: self.name.clone(),
                        message: format!(
                            "{} entries still failing after {SEND_ATTEMPTS} attempts",
                            out.failed().len()
                        ),
                        transient: true,
                    });
                }
                let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                pending.retain(|(i, _)| failed.contains(&i.to_string().as_str()));
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    /// A `ReceiveMessage` call that has been sent is always awaited: SQS may already have handed it messages,
    /// which would stay invisible for a whole visibility timeout if the call were dropped. So a stop is
    /// honoured between calls, and takes at most one long poll (20 s).
    async fn receive_until(
        &self,
        max: usize,
        wait: Duration,
        visibility: Duration,
        stop: &CancellationToken,
    ) -> Result<Vec<Message>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if stop.is_cancelled() {
                return Ok(Vec::new());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let wait_secs = left.as_secs_f64().ceil().min(MAX_WAIT_SECS as f64) as i32;
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(max.clamp(1, 10) as i32)
                .wait_time_seconds(wait_secs)
                .visibility_timeout(visibility.as_secs_f64().ceil() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| sqs_error("ReceiveMessage", &self.name, e))?;
            let messages: Vec<Message> = out
                .messages()
                .iter()
                .filter_map(|m| {
                    Some(Message {
                        id: m.message_id()?.to_string(),
                        body: m.body().unwrap_or_default().to_string(),
                        receipt: Receipt(m.receipt_handle()?.to_string()),
                        receive_count: m
                            .attributes()
                            .and_then(|a| {
                                a.get(&MessageSystemAttributeName::ApproximateReceiveCount)
                            })
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(1),
                    })
                })
                .collect();
            if !messages.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(messages);
            }
        }
    }

    async fn delete(&self, receipts: &[Receipt]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(BATCH_ENTRIES) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&r.0)
                        .build()
                        .map_err(|e| build_error(&self.name, e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sqs_error("DeleteMessageBatch", &self.name, e))?;
            // An invalid receipt means the message is already gone or was delivered again: deleting twice is
            // harmless by contract. Anything else is a real failure.
            if let Some(f) = out
                .failed()
                .iter()
                .find(|f| !matches!(f.code(), "ReceiptHandleIsInvalid" | "InvalidParameterValue"))
            {
                return Err(QueueError::Sqs {
                    operation: "DeleteMessageBatch",
                    queue: self.name.clone(),
                    message: format!("{} {}", f.code(), f.message().unwrap_or("")),
                    transient: !f.sender_fault(),
                });
            }
        }
        Ok(())
    }

    async fn extend(&self, receipt: &Receipt, visibility: Duration) -> Result<(), QueueError> {
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(&receipt.0)
            .visibility_timeout(visibility.as_secs_f64().ceil() as i32)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("ReceiptHandleIsInvalid" | "MessageNotInflight" | "InvalidParameterValue")
                ) =>
            {
                Err(QueueError::ReceiptExpired)
            }
            Err(e) => Err(sqs_error("ChangeMessageVisibility", &self.name, e)),
        }
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let counts = |url: String, name: String| {
            let client = self.client.clone();
            async move {
                let out = client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                    .send()
                    .await
                    .map_err(|e| sqs_error("GetQueueAttributes", &name, e))?;
                let get = |k: QueueAttributeName| {
                    out.attributes()
                        .and_then(|a| a.get(&k))
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                Ok::<_, QueueError>((
                    get(QueueAttributeName::ApproximateNumberOfMessages),
                    get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
                ))
            }
        };
        let (visible, in_flight) = counts(self.url.clone(), self.name.clone()).await?;
        let dlq = dlq_name(&self.name);
        let dead_lettered = match self.service.url(&dlq).await {
            Ok(url) => Some(counts(url, dlq).await?.0),
            Err(QueueError::NoSuchQueue(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(QueueDepth {
            visible,
            in_flight,
            dead_lettered,
            oldest_age: None,
        })
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_batches_respect_count_and_size() {
        let bodies: Vec<String> = (0..25)
            .map(|i| "x".repeat(if i == 3 { 200_000 } else { 10_000 }))
            .collect();
        let batches = send_batches(&bodies);
        assert!(batches.iter().all(|b| b.len() <= BATCH_ENTRIES));
        assert!(batches
            .iter()
            .all(|b| b.iter().map(|(_, s)| s.len()).sum::<usize>() <= BATCH_BYTES));
        let order: Vec<usize> = batches.iter().flatten().map(|(i, _)| *i).collect();
        assert_eq!(order, (0..25).collect::<Vec<_>>());
    }
}

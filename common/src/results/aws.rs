//! The AWS result store: one DynamoDB item per job (state, deadline, expiry, and a small answer inline), and the
//! parts of larger answers as S3 objects `results/<id>/<attempt>/<part>`.
//!
//! Why both: DynamoDB gives conditional updates (the first finish wins, a start only from queued) and strongly
//! consistent reads, so every gateway sees the same state; its items are limited to 400 KB, so answers beyond
//! [`INLINE_BYTES`](super::answer::INLINE_BYTES) go to S3, which takes objects of any size and number. Expiry is
//! the services' own where they can: a DynamoDB TTL attribute (`forget_at`) removes records a day after they
//! are gone, an S3 lifecycle rule removes parts two days after they were written; the sweep makes expiry exact
//! (records read as gone the moment they expire, parts are deleted when it runs).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use futures::StreamExt;
use uuid::Uuid;

use super::record::{status_at, Record, TIMEOUT_MESSAGE};
use super::{
    GoneReason, JobStatus, NewJob, Outcome, ResultError, ResultOptions, ResultStore, SweepReport,
    Usage, REMEMBER_GONE,
};
use crate::protocol::now_ms;

type Item = HashMap<String, AttributeValue>;

/// Days after which S3 removes any answer part (a backstop: the sweep removes them when their answer expires).
pub const PART_LIFETIME_DAYS: i32 = 2;
/// The key prefix of every answer part in the bucket.
pub const PARTS_PREFIX: &str = "results/";

mod members;
mod provision;
use members::MEMBERS_ID;
pub use provision::{create_bucket, create_table, lifecycle};

/// Job records in `table`, answer parts in `bucket`.
#[derive(Clone)]
pub struct AwsResults {
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
    region: Option<String>,
    options: ResultOptions,
}

fn aws_error<E, R>(
    service: &'static str,
    operation: &'static str,
    resource: &str,
    err: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> ResultError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let failure = crate::aws::error::classify(err);
    ResultError::Aws {
        service,
        operation,
        resource: resource.to_string(),
        message: failure.message,
        transient: failure.transient,
    }
}

fn code_of<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    crate::aws::error::classify(err).code
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn num(item: &Item, key: &str) -> Option<i64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|t| t.parse().ok())
}

fn text(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn record_of(item: &Item) -> Result<Record, ResultError> {
    let missing = |k: &str| ResultError::Corrupt(format!("result item without {k}"));
    Ok(Record {
        state: text(item, "state").ok_or_else(|| missing("state"))?,
        deadline_ms: num(item, "deadline_ms").ok_or_else(|| missing("deadline_ms"))?,
        ttl_ms: num(item, "ttl_ms").ok_or_else(|| missing("ttl_ms"))?,
        expires_ms: num(item, "expires_ms"),
        forget_ms: num(item, "forget_ms"),
        attempt: text(item, "attempt"),
        parts: num(item, "parts"),
        csv_bytes: num(item, "csv_bytes"),
        stored_bytes: num(item, "stored_bytes").unwrap_or(0),
        reason: text(item, "reason"),
        message: text(item, "message"),
        field: text(item, "field"),
        gone_reason: text(item, "gone_reason"),
        format: text(item, "format"),
        inline: item
            .get("small_answer")
            .and_then(|v| v.as_b().ok())
            .map(|b| Bytes::copy_from_slice(b.as_ref())),
    })
}

fn part_key(id: Uuid, attempt: Uuid, part: u32) -> String {
    format!("{PARTS_PREFIX}{id}/{attempt}/{part:06}")
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Epoch seconds for DynamoDB's TTL attribute.
fn ttl_seconds(ms: i64) -> i64 {
    ms / 1000 + 1
}

impl AwsResults {
    pub fn new(
        config: &aws_config::SdkConfig,
        table: &str,
        bucket: &str,
        options: ResultOptions,
    ) -> Self {
        AwsResults {
            ddb: aws_sdk_dynamodb::Client::new(config),
            s3: crate::aws::s3_client(config),
            table: table.to_string(),
            bucket: bucket.to_string(),
            region: config.region().map(|r| r.to_string()),
            options,
        }
    }

    /// Creates the table (with its TTL attribute) and the bucket (private, with its lifecycle rule) when they
    /// are missing. `airq-deploy` creates them with the same definitions ([`table_definition`] and
    /// [`lifecycle`]); a role opening a provisioned stack finds them and changes nothing.
    pub async fn ensure(&self) -> Result<(), ResultError> {
        match self
            .ddb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code_of(&e).as_deref() == Some("ResourceNotFoundException") => {
                create_table(&self.ddb, &self.table).await?;
            }
            Err(e) => return Err(aws_error("dynamodb", "DescribeTable", &self.table, &e)),
        }
        match self.s3.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                create_bucket(&self.s3, &self.bucket, self.region.as_deref()).await
            }
            Err(e) => Err(aws_error("s3", "HeadBucket", &self.bucket, &e)),
        }
    }

    async fn get(&self, id: Uuid) -> Result<Option<Item>, ResultError> {
        let got = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("id", s(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("dynamodb", "GetItem", &self.table, &e))?;
        Ok(got.item)
    }

    async fn read(&self, id: Uuid) -> Result<Option<Record>, ResultError> {
        self.get(id).await?.as_ref().map(record_of).transpose()
    }

    /// An update that applies only when `condition` holds; returns whether it did.
    async fn update_if(
        &self,
        id: Uuid,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, ResultError> {
        let mut request = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("id", s(id.to_string()))
            .update_expression(update)
            .condition_expression(condition);
        if update.contains("#state") || condition.contains("#state") {
            request = request.expression_attribute_names("#state", "state");
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if code_of(&e).as_deref() == Some("ConditionalCheckFailedException") => {
                Ok(false)
            }
            Err(e) => Err(aws_error("dynamodb", "UpdateItem", &self.table, &e)),
        }
    }

    /// Deletes the parts under `results/<id>/`, except those of `keep` (the recorded attempt).
    async fn delete_parts(&self, id: Uuid, keep: Option<&str>) -> Result<u64, ResultError> {
        let prefix = format!("{PARTS_PREFIX}{id}/");
        let keep = keep.map(|a| format!("{prefix}{a}/"));
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("s3", "ListObjectsV2", &self.bucket, &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string))
                    .filter(|k| keep.as_ref().is_none_or(|keep| !k.starts_with(keep))),
            );
        }
        let removed = keys.len() as u64;
        let results: Vec<Result<(), ResultError>> = futures::stream::iter(keys)
            .map(|key| async move {
                self.s3
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("s3", "DeleteObject", &self.bucket, &e))
            })
            .buffer_unordered(16)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(removed)
    }

    async fn make_gone(&self, id: Uuid, reason: GoneReason, now: i64) -> Result<u64, ResultError> {
        let forget = now + ms(REMEMBER_GONE);
        self.update_if(
            id,
            "SET #state = :gone, gone_reason = :why, forget_ms = :forget, forget_at = :forget_at, stored_bytes = :zero REMOVE small_answer",
            "attribute_exists(id)",
            vec![
                (":gone", s("gone")),
                (":why", s(reason.as_str())),
                (":forget", n(forget)),
                (":forget_at", n(ttl_seconds(forget))),
                (":zero", n(0)),
            ],
        )
        .await?;
        self.delete_parts(id, None).await
    }

    async fn scan_all(&self) -> Result<Vec<Item>, ResultError> {
        let mut items = Vec::new();
        let mut pages = self
            .ddb
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("dynamodb", "Scan", &self.table, &e))?;
            // The members item is not a job.
            items.extend(
                page.items()
                    .iter()
                    .filter(|item| text(item, "id").as_deref() != Some(MEMBERS_ID))
                    .cloned(),
            );
        }
        Ok(items)
    }
}

#[async_trait::async_trait]
impl ResultStore for AwsResults {
    async fn create(&self, job: &NewJob) -> Result<(), ResultError> {
        // Forgotten by DynamoDB a day after it could last be fetched, even if no sweep ever runs.
        let forget = job.deadline_ms + ms(job.ttl) + ms(REMEMBER_GONE);
        let mut put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item("id", s(job.id.to_string()))
            .item("state", s("queued"))
            .item("submitted_ms", n(job.submitted_ms))
            .item("deadline_ms", n(job.deadline_ms))
            .item("ttl_ms", n(ms(job.ttl)))
            .item("forget_at", n(ttl_seconds(forget)));
        if let Some(owner) = &job.owner {
            put = put.item("owner", s(owner.clone()));
        }
        if !job.format.is_default() {
            put = put.item("format", s(job.format.as_str()));
        }
        let put = put
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e).as_deref() == Some("ConditionalCheckFailedException") => {
                Err(ResultError::Exists(job.id))
            }
            Err(e) => Err(aws_error("dynamodb", "PutItem", &self.table, &e)),
        }
    }

    async fn status(&self, id: Uuid) -> Result<JobStatus, ResultError> {
        status_at(self.read(id).await?, now_ms())
    }

    async fn owner(&self, id: Uuid) -> Result<Option<String>, ResultError> {
        let got = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("id", s(id.to_string()))
            .projection_expression("#owner")
            .expression_attribute_names("#owner", "owner")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("dynamodb", "GetItem", &self.table, &e))?;
        Ok(got.item.as_ref().and_then(|item| text(item, "owner")))
    }

    async fn start(&self, id: Uuid) -> Result<JobStatus, ResultError> {
        let now = now_ms();
        self.update_if(
            id,
            "SET #state = :running",
            "#state = :queued AND deadline_ms > :now",
            vec![
                (":running", s("running")),
                (":queued", s("queued")),
                (":now", n(now)),
            ],
        )
        .await?;
        self.status(id).await
    }

    async fn put_part(
        &self,
        id: Uuid,
        attempt: Uuid,
        part: u32,
        data: Bytes,
    ) -> Result<(), ResultError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(part_key(id, attempt, part))
            .body(data.into())
            .send()
            .await
            .map_err(|e| aws_error("s3", "PutObject", &self.bucket, &e))?;
        Ok(())
    }

    async fn finish(&self, id: Uuid, outcome: Outcome) -> Result<bool, ResultError> {
        let now = now_ms();
        let Some(record) = self.read(id).await? else {
            return Ok(false);
        };
        let expires = now + record.ttl_ms;
        let forget = expires + ms(REMEMBER_GONE);
        let mut values = vec![
            (":queued", s("queued")),
            (":running", s("running")),
            (":now", n(now)),
            (":expires", n(expires)),
            (":forget_at", n(ttl_seconds(forget))),
        ];
        let pending = "#state IN (:queued, :running) AND deadline_ms > :now";
        let finished = match outcome {
            Outcome::Done(answer) => {
                if answer.stored_bytes > self.options.budget {
                    return Err(ResultError::TooLarge {
                        size: answer.stored_bytes,
                        limit: self.options.budget,
                    });
                }
                let attempt = answer.attempt.to_string();
                let mut update = "SET #state = :done, finished_ms = :now, expires_ms = :expires, forget_at = :forget_at, \
                     attempt = :attempt, parts = :parts, csv_bytes = :csv, stored_bytes = :stored"
                    .to_string();
                values.extend([
                    (":done", s("done")),
                    (":attempt", s(attempt.clone())),
                    (":parts", n(answer.parts)),
                    (":csv", n(answer.csv_bytes)),
                    (":stored", n(answer.stored_bytes)),
                ]);
                if let Some(inline) = answer.inline {
                    update.push_str(", small_answer = :inline");
                    values.push((
                        ":inline",
                        AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(inline.to_vec())),
                    ));
                }
                let finished = self.update_if(id, &update, pending, values).await?;
                if finished {
                    // Parts of attempts that lost (a worker that died mid-stream, a duplicate delivery).
                    if let Err(e) = self.delete_parts(id, Some(&attempt)).await {
                        tracing::warn!(job_id = %id, error = %e, "could not remove other attempts' parts; the sweep or the lifecycle rule will");
                    }
                }
                finished
            }
            Outcome::Failed(failure) => {
                let mut update = "SET #state = :failed, finished_ms = :now, expires_ms = :expires, forget_at = :forget_at, \
                     reason = :reason, message = :message"
                    .to_string();
                values.extend([
                    (":failed", s("failed")),
                    (":reason", s(failure.reason.as_str())),
                    (":message", s(failure.message)),
                ]);
                if let Some(field) = failure.field {
                    update.push_str(", field = :field");
                    values.push((":field", s(field)));
                }
                self.update_if(id, &update, pending, values).await?
            }
        };
        Ok(finished)
    }

    async fn read_part(&self, id: Uuid, attempt: Uuid, part: u32) -> Result<Bytes, ResultError> {
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(part_key(id, attempt, part))
            .send()
            .await;
        let got = match got {
            Ok(got) => got,
            Err(e) if code_of(&e).as_deref() == Some("NoSuchKey") => {
                return Err(ResultError::MissingPart { id, part })
            }
            Err(e) => return Err(aws_error("s3", "GetObject", &self.bucket, &e)),
        };
        let body = got.body.collect().await.map_err(|e| ResultError::Aws {
            service: "s3",
            operation: "GetObject",
            resource: self.bucket.clone(),
            message: e.to_string(),
            transient: true,
        })?;
        Ok(body.into_bytes())
    }

    async fn fetched(&self, id: Uuid) -> Result<(), ResultError> {
        self.update_if(
            id,
            "SET fetched = :yes",
            "attribute_exists(id)",
            vec![(":yes", AttributeValue::Bool(true))],
        )
        .await?;
        Ok(())
    }

    async fn cancel(&self, id: Uuid) -> Result<bool, ResultError> {
        let now = now_ms();
        match status_at(self.read(id).await?, now)? {
            JobStatus::Unknown => Ok(false),
            JobStatus::Gone(_) => Ok(true),
            _ => {
                self.make_gone(id, GoneReason::Cancelled, now).await?;
                Ok(true)
            }
        }
    }

    async fn sweep(&self) -> Result<SweepReport, ResultError> {
        let now = now_ms();
        let mut report = SweepReport::default();
        for item in self.scan_all().await? {
            let Some(id) = text(&item, "id").and_then(|t| Uuid::parse_str(&t).ok()) else {
                continue;
            };
            let record = record_of(&item)?;
            let pending = matches!(record.state.as_str(), "queued" | "running");
            if pending && record.deadline_ms <= now {
                let expires = record.deadline_ms + record.ttl_ms;
                let timed_out = self
                    .update_if(
                        id,
                        "SET #state = :failed, reason = :reason, message = :message, finished_ms = :deadline, expires_ms = :expires",
                        "#state IN (:queued, :running)",
                        vec![
                            (":failed", s("failed")),
                            (":reason", s("timeout")),
                            (":message", s(TIMEOUT_MESSAGE)),
                            (":deadline", n(record.deadline_ms)),
                            (":expires", n(expires)),
                            (":queued", s("queued")),
                            (":running", s("running")),
                        ],
                    )
                    .await?;
                report.timed_out += u64::from(timed_out);
                report.parts_removed += self.delete_parts(id, None).await?;
                continue;
            }
            let finished = matches!(record.state.as_str(), "done" | "failed");
            if finished && record.expires_ms.is_some_and(|t| t <= now) {
                report.parts_removed += self.make_gone(id, GoneReason::Expired, now).await?;
                report.expired += 1;
            } else if record.state == "gone" && record.forget_ms.is_some_and(|t| t <= now) {
                self.ddb
                    .delete_item()
                    .table_name(&self.table)
                    .key("id", s(id.to_string()))
                    .send()
                    .await
                    .map_err(|e| aws_error("dynamodb", "DeleteItem", &self.table, &e))?;
                report.forgotten += 1;
            }
        }
        Ok(report)
    }

    async fn usage(&self) -> Result<Usage, ResultError> {
        let mut usage = Usage::default();
        for item in self.scan_all().await? {
            if text(&item, "state").as_deref() == Some("done") {
                usage.answers += 1;
                usage.stored_bytes += num(&item, "stored_bytes")
                    .and_then(|b| u64::try_from(b).ok())
                    .unwrap_or(0);
            }
        }
        Ok(usage)
    }

    async fn check(&self) -> Result<(), ResultError> {
        self.get(Uuid::nil()).await.map(|_| ())
    }

    async fn seen(&self, member: &str) -> Result<(), ResultError> {
        self.seen_impl(member).await
    }

    async fn members(&self, since_ms: i64) -> Result<Vec<(String, i64)>, ResultError> {
        self.members_impl(since_ms).await
    }

    fn max_answer_bytes(&self) -> u64 {
        self.options.budget
    }

    fn part_bytes(&self) -> usize {
        self.options.part_bytes
    }

    fn describe(&self) -> String {
        format!("dynamodb://{}?bucket={} (results)", self.table, self.bucket)
    }
}

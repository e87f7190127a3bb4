//! The DynamoDB reading store.
//!
//! Key design (see `docs/architecture.md`), chosen so that a query reads items in proportion to its answer and
//! never scans the table (the legacy system scanned the whole table for every query):
//!
//! | | partition key | sort key |
//! | --- | --- | --- |
//! | table | `pk` = UTC hour, `2019-04-16T14` | `sk` = `{timestamp:011}#{sensor_id:020}` |
//! | GSI `by_country_hour` | `ch` = `{COUNTRY}#{hour}` (`-` for no country) | `sk` |
//! | GSI `by_sensor` | `sensor_id` (number) | `sk` |
//! | GSI `by_location` (sparse) | `location_id` (number, absent when unknown) | `sk` |
//! | GSI `by_id` (sparse) | `id` (number, absent when unknown) | `sk` |
//!
//! - The primary key is derived from (sensor_id, timestamp) alone, so putting the same reading again replaces it:
//!   idempotent ingest without conditional writes.
//! - Zero padding makes the sort key's byte order equal (timestamp, sensor_id) order for timestamps from 1970
//!   on, so each partition (an hour, a country's hour, a sensor, a location, an id) is read already in answer
//!   order: hours are visited in order and several keys' answers merged, never sorted.
//! - A query naming ids, sensors or locations reads those keys' index partitions, the window's part of them
//!   (`sk BETWEEN`); one with a country reads the GSI partitions `COUNTRY#hour` of its window; any other reads
//!   the table's hour partitions. A small `meta`/`bounds` item keeps the earliest and latest stored timestamps,
//!   so a window of years does not issue one request per empty hour. See [`read`] for the paths and their
//!   costs, [`provision`] for how a table made before an index existed gets it.
//! - Writes: `BatchWriteItem` of at most 25 distinct keys (enforced here; the emulator accepts more), several
//!   in flight, `UnprocessedItems` retried with exponential backoff and full jitter, and an optional write-rate
//!   cap (governor) to stay inside a capacity budget.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, Select, TableStatus, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt, TryStreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;

use super::{PageStream, ReadingStore, StoreError};

mod item;
mod notes;
mod provision;
mod read;

pub use provision::{create_table, IndexDef, INDEXES};

use crate::query::Query;
use crate::reading::Reading;
use crate::time::EpochSeconds;
use item::{item, num};

/// Table partition key attribute: the reading's UTC hour.
pub const PK: &str = "pk";
/// Sort key attribute (table and GSI): zero-padded `timestamp#sensor_id`.
pub const SK: &str = "sk";
/// GSI partition key attribute: `COUNTRY#hour`.
pub const CH: &str = "ch";
/// The GSI serving queries with a country.
pub const COUNTRY_INDEX: &str = "by_country_hour";
/// Item attribute (number) and GSI partition key of `by_sensor`: the reading's sensor.
pub const SENSOR: &str = "sensor_id";
/// Item attribute (number, absent when the reading has none) and GSI partition key of `by_location`.
pub const LOCATION: &str = "location_id";
/// Item attribute (number, absent when the reading has none) and GSI partition key of `by_id`: the feed's
/// measurement id.
pub const ID: &str = "id";
/// The GSI serving a sensor's history: partition `sensor_id`, sort `sk`.
pub const SENSOR_INDEX: &str = "by_sensor";
/// The sparse GSI serving a location's readings: partition `location_id`, sort `sk`.
pub const LOCATION_INDEX: &str = "by_location";
/// The sparse GSI serving readings by id: partition `id`, sort `sk`.
pub const ID_INDEX: &str = "by_id";
/// Items per `BatchWriteItem`: DynamoDB's limit.
pub const BATCH_LIMIT: usize = 25;

const META_PK: &str = "meta";
const META_SK: &str = "bounds";
/// The data version's item, beside the bounds item in the `meta` partition (never an hour: no query reads it).
const VERSION_SK: &str = "version";
/// Retries of a batch's unprocessed items before the write fails (transient).
const MAX_ATTEMPTS: u32 = 10;
const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// How the store writes.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Items written per second at most (a capacity budget); `None` for no cap.
    pub max_writes_per_second: Option<NonZeroU32>,
    /// `BatchWriteItem` requests in flight at once.
    pub batches_in_flight: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            max_writes_per_second: None,
            batches_in_flight: 4,
        }
    }
}

/// The store over one table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    options: WriteOptions,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// Key indexes the table lacks and this identity may not add (found by [`ensure_table`](Self::ensure_table)):
    /// their queries read the window instead. Empty for a store that was never told otherwise.
    unindexed: Arc<std::sync::RwLock<Vec<&'static str>>>,
}

/// The sort key: byte order equals (timestamp, sensor_id) order for timestamps >= 0.
pub fn sort_key(timestamp: EpochSeconds, sensor_id: u64) -> String {
    format!("{:011}#{sensor_id:020}", timestamp.max(0))
}

/// The GSI partition of a reading or query: country (upper case, `-` when empty) and hour.
pub fn country_hour(country: &str, hour: &str) -> String {
    let country = country.trim();
    if country.is_empty() {
        format!("-#{hour}")
    } else {
        format!("{}#{hour}", country.to_ascii_uppercase())
    }
}

/// Splits readings into write batches of at most [`BATCH_LIMIT`] distinct keys; of several readings with one key
/// the last wins (DynamoDB rejects a batch that names a key twice, and the trait says a later write wins).
pub fn write_batches(readings: &[Reading]) -> Vec<Vec<&Reading>> {
    let mut last: HashMap<(EpochSeconds, u64), usize> = HashMap::with_capacity(readings.len());
    for (i, r) in readings.iter().enumerate() {
        last.insert((r.timestamp, r.sensor_id), i);
    }
    let unique: Vec<&Reading> = readings
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(&(r.timestamp, r.sensor_id)) == Some(i))
        .map(|(_, r)| r)
        .collect();
    unique
        .chunks(BATCH_LIMIT)
        .map(<[&Reading]>::to_vec)
        .collect()
}

/// Exponential backoff with full jitter: a random delay in `[0, min(cap, base * 2^attempt)]`.
pub fn backoff(attempt: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(rng.gen_range(0.0..=1.0))
}

/// Maps an SDK error, deciding whether it is worth retrying.
fn sdk_error<E, R>(operation: &'static str, table: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let failure = crate::aws::error::classify(&err);
    StoreError::DynamoDb {
        operation,
        table: table.to_string(),
        message: failure.message,
        transient: failure.transient,
    }
}

fn build_error(table: &str, e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::DynamoDb {
        operation: "build request",
        table: table.to_string(),
        message: e.to_string(),
        transient: false,
    }
}

impl DynamoStore {
    pub fn new(
        config: &aws_config::SdkConfig,
        table: &str,
        options: WriteOptions,
    ) -> Result<Self, StoreError> {
        if table.is_empty() {
            return Err(StoreError::InvalidUrl {
                url: format!("dynamodb://{table}"),
                reason: "the table name is empty".into(),
            });
        }
        let limiter = options.max_writes_per_second.map(|rate| {
            // The burst must hold a whole batch, or a batch could never be admitted.
            let burst = rate.max(NonZeroU32::new(BATCH_LIMIT as u32).unwrap_or(NonZeroU32::MIN));
            Arc::new(RateLimiter::direct(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Ok(DynamoStore {
            client: Client::new(config),
            table: table.into(),
            options,
            limiter,
            unindexed: Arc::default(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates this store's table if needed and adds the indexes it lacks (see [`create_table`]). An index this
    /// identity may not add is not an error: its queries read the window (correct, dearer) until it exists.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let denied = provision::provision(&self.client, &self.table).await?;
        let mut unindexed = self
            .unindexed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *unindexed = denied.iter().map(|def| def.name).collect();
        Ok(())
    }

    /// Whether queries may read `index` (it exists, as far as this store knows).
    fn indexed(&self, index: &str) -> bool {
        !self
            .unindexed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&index)
    }

    /// One `PutItem` per reading, one at a time: what the legacy loader did. Only for benchmark comparisons.
    pub async fn put_one_by_one(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        for r in readings {
            self.client
                .put_item()
                .table_name(&*self.table)
                .set_item(Some(item(r)))
                .send()
                .await
                .map_err(|e| sdk_error("PutItem", &self.table, e))?;
        }
        self.widen_bounds(readings).await?;
        self.bump_version().await?;
        Ok(readings.len() as u64)
    }

    fn write_requests(&self, batch: Vec<&Reading>) -> Result<Vec<WriteRequest>, StoreError> {
        batch
            .into_iter()
            .map(|r| {
                PutRequest::builder()
                    .set_item(Some(item(r)))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| build_error(&self.table, e))
            })
            .collect()
    }

    async fn write_batch(self, mut requests: Vec<WriteRequest>) -> Result<u64, StoreError> {
        let n = requests.len() as u64;
        if let Some(limiter) = &self.limiter {
            let cells = NonZeroU32::new(requests.len() as u32).unwrap_or(NonZeroU32::MIN);
            // `until_n_ready` fails only when n exceeds the burst, which holds a whole batch by construction.
            let _ = limiter.until_n_ready(cells).await;
        }
        let mut attempt = 0;
        loop {
            let out = self
                .client
                .batch_write_item()
                .request_items(self.table.to_string(), requests)
                .send()
                .await
                .map_err(|e| sdk_error("BatchWriteItem", &self.table, e))?;
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(&*self.table))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(n);
            }
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                return Err(StoreError::DynamoDb {
                    operation: "BatchWriteItem",
                    table: self.table.to_string(),
                    message: format!(
                        "{} items still unprocessed after {MAX_ATTEMPTS} attempts",
                        requests.len()
                    ),
                    transient: true,
                });
            }
            let nap = backoff(attempt, &mut rand::thread_rng());
            tracing::debug!(
                unprocessed = requests.len(),
                attempt,
                ?nap,
                "retrying unprocessed items"
            );
            tokio::time::sleep(nap).await;
        }
    }

    /// Widens the stored time bounds to cover `readings`.
    /// Makes the data version larger (issue 13): an atomic `ADD` on one small item, after the batch's items are
    /// written, so a reader that sees the new version can read the new items.
    async fn bump_version(&self) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&*self.table)
            .key(PK, AttributeValue::S(META_PK.into()))
            .key(SK, AttributeValue::S(VERSION_SK.into()))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":one", num(1))
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem", &self.table, e))?;
        Ok(())
    }

    /// The data version: a strongly consistent read of the version item (0 before the first write).
    async fn read_version(&self) -> Result<u64, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key(PK, AttributeValue::S(META_PK.into()))
            .key(SK, AttributeValue::S(VERSION_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", &self.table, e))?;
        Ok(out
            .item()
            .and_then(|item| item.get("v"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    async fn widen_bounds(&self, readings: &[Reading]) -> Result<(), StoreError> {
        let (Some(lo), Some(hi)) = (
            readings.iter().map(|r| r.timestamp).min(),
            readings.iter().map(|r| r.timestamp).max(),
        ) else {
            return Ok(());
        };
        for (attr, value, cmp) in [("lo", lo, ">"), ("hi", hi, "<")] {
            let result = self
                .client
                .update_item()
                .table_name(&*self.table)
                .key(PK, AttributeValue::S(META_PK.into()))
                .key(SK, AttributeValue::S(META_SK.into()))
                .update_expression("SET #a = :v")
                .condition_expression(format!("attribute_not_exists(#a) OR #a {cmp} :v"))
                .expression_attribute_names("#a", attr)
                .expression_attribute_values(":v", num(value))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(sdk_error("UpdateItem", &self.table, e)),
            }
        }
        Ok(())
    }

    async fn bounds(&self) -> Result<Option<(EpochSeconds, EpochSeconds)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key(PK, AttributeValue::S(META_PK.into()))
            .key(SK, AttributeValue::S(META_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", &self.table, e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let get = |k: &str| match item.get(k) {
            Some(AttributeValue::N(t)) => t.parse::<EpochSeconds>().ok(),
            _ => None,
        };
        Ok(get("lo").zip(get("hi")))
    }
}

#[async_trait]
impl ReadingStore for DynamoStore {
    async fn upsert(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        if readings.is_empty() {
            return Ok(0);
        }
        // Owned requests and a cloned handle per batch: the futures run concurrently and borrow nothing.
        let batches = write_batches(readings)
            .into_iter()
            .map(|batch| self.write_requests(batch))
            .collect::<Result<Vec<_>, _>>()?;
        let written = stream::iter(batches)
            .map(|requests| self.clone().write_batch(requests))
            .buffer_unordered(self.options.batches_in_flight.max(1))
            .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
            .await?;
        self.widen_bounds(readings).await?;
        self.bump_version().await?;
        Ok(written)
    }

    async fn data_version(&self) -> Result<u64, StoreError> {
        self.read_version().await
    }

    fn query(&self, query: &Query, page_size: usize) -> PageStream {
        read::query(self.clone(), query.clone(), page_size)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        // A full scan: fine for tests and status, not for a hot path.
        let mut total = 0u64;
        let mut start_key = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&*self.table)
                .select(Select::Count)
                .filter_expression("#p <> :meta")
                .expression_attribute_names("#p", PK)
                .expression_attribute_values(":meta", AttributeValue::S(META_PK.into()))
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| sdk_error("Scan", &self.table, e))?;
            total += out.count().max(0) as u64;
            start_key = out.last_evaluated_key().cloned();
            if start_key.is_none() {
                return Ok(total);
            }
        }
    }

    async fn stats(&self) -> Result<crate::store::StoreStats, StoreError> {
        self.stats_impl().await
    }

    async fn note_ingest(&self, note: &crate::store::IngestNote) -> Result<(), StoreError> {
        self.note_ingest_impl(note).await
    }

    async fn ingest_notes(&self) -> Result<crate::store::IngestNotes, StoreError> {
        self.ingest_notes_impl().await
    }

    async fn check(&self) -> Result<(), StoreError> {
        let out = self
            .client
            .describe_table()
            .table_name(&*self.table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", &self.table, e))?;
        match out.table().and_then(|t| t.table_status()) {
            Some(TableStatus::Active) | Some(TableStatus::Updating) => Ok(()),
            other => Err(StoreError::DynamoDb {
                operation: "DescribeTable",
                table: self.table.to_string(),
                message: format!("the table is not active ({other:?})"),
                transient: true,
            }),
        }
    }

    fn describe(&self) -> String {
        format!("dynamodb://{}", self.table)
    }
}

#[cfg(test)]
mod tests;

//! DynamoDB reading store. (Being written; see docs/architecture.md for the key design.)

use async_trait::async_trait;

use super::{PageStream, ReadingStore, StoreError};
use crate::query::Query;
use crate::reading::Reading;

#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub max_writes_per_second: Option<u32>,
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

pub struct DynamoStore {
    table: String,
}

impl DynamoStore {
    pub fn new(
        _config: &aws_config::SdkConfig,
        table: &str,
        _options: WriteOptions,
    ) -> Result<Self, StoreError> {
        Ok(DynamoStore {
            table: table.to_string(),
        })
    }
}

#[async_trait]
impl ReadingStore for DynamoStore {
    async fn upsert(&self, _readings: &[Reading]) -> Result<u64, StoreError> {
        Err(StoreError::Task(
            "dynamodb store not implemented yet".into(),
        ))
    }
    fn query(&self, _query: &Query, _page_size: usize) -> PageStream {
        Box::pin(futures::stream::empty())
    }
    async fn count(&self) -> Result<u64, StoreError> {
        Err(StoreError::Task(
            "dynamodb store not implemented yet".into(),
        ))
    }
    async fn check(&self) -> Result<(), StoreError> {
        Err(StoreError::Task(
            "dynamodb store not implemented yet".into(),
        ))
    }
    fn describe(&self) -> String {
        format!("dynamodb://{}", self.table)
    }
}

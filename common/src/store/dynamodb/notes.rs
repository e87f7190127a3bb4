//! The DynamoDB store's status: readings from the table's own item count (approximate, free), the time bounds
//! from the `meta`/`bounds` item the writes keep, and ingest notes as two more `meta` items (`ingest#last`,
//! `ingest#last_complete`), each holding its run's summary as JSON. Hour partitions never share the `meta`
//! partition, so none of this is read by a query.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{sdk_error, DynamoStore, META_PK, PK, SK};
use crate::store::{IngestNote, IngestNotes, StoreError, StoreStats};

const LAST: &str = "ingest#last";
const LAST_COMPLETE: &str = "ingest#last_complete";
/// Items in the `meta` partition (bounds and the two notes), left out of the approximate count.
const META_ITEMS: i64 = 3;

impl DynamoStore {
    pub(super) async fn stats_impl(&self) -> Result<StoreStats, StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(&*self.table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", &self.table, e))?;
        let items = described.table().and_then(|t| t.item_count()).unwrap_or(0);
        let bounds = self.bounds().await?;
        Ok(StoreStats {
            readings: u64::try_from(items.saturating_sub(META_ITEMS)).unwrap_or(0),
            approximate: true,
            oldest: bounds.map(|(lo, _)| lo),
            newest: bounds.map(|(_, hi)| hi),
        })
    }

    pub(super) async fn note_ingest_impl(&self, note: &IngestNote) -> Result<(), StoreError> {
        let kinds: &[&str] = if note.complete {
            &[LAST, LAST_COMPLETE]
        } else {
            &[LAST]
        };
        for kind in kinds {
            self.client
                .put_item()
                .table_name(&*self.table)
                .item(PK, AttributeValue::S(META_PK.into()))
                .item(SK, AttributeValue::S((*kind).into()))
                .item(
                    "finished_ms",
                    AttributeValue::N(note.finished_ms.to_string()),
                )
                .item("complete", AttributeValue::Bool(note.complete))
                .item("summary", AttributeValue::S(note.summary.to_string()))
                .send()
                .await
                .map_err(|e| sdk_error("PutItem", &self.table, e))?;
        }
        Ok(())
    }

    pub(super) async fn ingest_notes_impl(&self) -> Result<IngestNotes, StoreError> {
        Ok(IngestNotes {
            last: self.note(LAST).await?,
            last_complete: self.note(LAST_COMPLETE).await?,
        })
    }

    async fn note(&self, kind: &str) -> Result<Option<IngestNote>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key(PK, AttributeValue::S(META_PK.into()))
            .key(SK, AttributeValue::S(kind.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", &self.table, e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("ingest note {kind}: {what}"));
        let finished_ms = match item.get("finished_ms") {
            Some(AttributeValue::N(n)) => n.parse::<i64>().map_err(|_| corrupt("finished_ms"))?,
            _ => return Err(corrupt("no finished_ms")),
        };
        let complete = matches!(item.get("complete"), Some(AttributeValue::Bool(true)));
        let summary = match item.get("summary") {
            Some(AttributeValue::S(text)) => {
                serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))?
            }
            _ => return Err(corrupt("no summary")),
        };
        Ok(Some(IngestNote {
            finished_ms,
            complete,
            summary,
        }))
    }
}

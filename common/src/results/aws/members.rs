//! Workers seen recently, in the results table: one item (`id` = [`MEMBERS_ID`]) whose map `seen` holds each
//! worker's last time. One strongly consistent GetItem lists them all (a scan of the table would read every
//! job), and a worker's heartbeat is one UpdateItem of its own map entry. The item is not a job: the table's
//! scans (sweep, usage) skip it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{aws_error, code_of, ms, n, s, AwsResults};
use crate::protocol::now_ms;
use crate::results::{ResultError, FORGET_MEMBERS};

/// The members item's id: not a UUID, so no job can ever have it.
pub const MEMBERS_ID: &str = "#members";

impl AwsResults {
    pub(super) async fn seen_impl(&self, member: &str) -> Result<(), ResultError> {
        let now = now_ms();
        let update = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("id", s(MEMBERS_ID))
            .update_expression("SET seen.#m = :now")
            .condition_expression("attribute_exists(seen)")
            .expression_attribute_names("#m", member)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match update {
            Ok(_) => return Ok(()),
            Err(e) if code_of(&e).as_deref() == Some("ConditionalCheckFailedException") => {}
            Err(e) => return Err(aws_error("dynamodb", "UpdateItem", &self.table, &e)),
        }
        // The first member ever: create the item (if another worker just did, update it as above).
        let map = HashMap::from([(member.to_string(), n(now))]);
        let put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item("id", s(MEMBERS_ID))
            .item("seen", AttributeValue::M(map))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e).as_deref() == Some("ConditionalCheckFailedException") => {
                Box::pin(self.seen_impl(member)).await
            }
            Err(e) => Err(aws_error("dynamodb", "PutItem", &self.table, &e)),
        }
    }

    pub(super) async fn members_impl(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, ResultError> {
        let got = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("id", s(MEMBERS_ID))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("dynamodb", "GetItem", &self.table, &e))?;
        let Some(AttributeValue::M(seen)) = got.item.as_ref().and_then(|item| item.get("seen"))
        else {
            return Ok(Vec::new());
        };
        let entries: Vec<(String, i64)> = seen
            .iter()
            .filter_map(|(id, at)| Some((id.clone(), at.as_n().ok()?.parse::<i64>().ok()?)))
            .collect();
        self.forget_stale(&entries).await;
        let mut recent: Vec<(String, i64)> = entries
            .into_iter()
            .filter(|(_, at)| *at >= since_ms)
            .collect();
        recent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(recent)
    }

    /// Removes members not seen for [`FORGET_MEMBERS`] (best effort: a failure leaves them for next time).
    async fn forget_stale(&self, entries: &[(String, i64)]) {
        let cutoff = now_ms() - ms(FORGET_MEMBERS);
        let stale: Vec<&String> = entries
            .iter()
            .filter(|(_, at)| *at < cutoff)
            .map(|(id, _)| id)
            .take(50)
            .collect();
        if stale.is_empty() {
            return;
        }
        let mut update = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("id", s(MEMBERS_ID));
        let mut removes = Vec::new();
        for (i, id) in stale.iter().enumerate() {
            let name = format!("#s{i}");
            removes.push(format!("seen.{name}"));
            update = update.expression_attribute_names(name, id.as_str());
        }
        let update = update.update_expression(format!("REMOVE {}", removes.join(", ")));
        if let Err(e) = update.send().await {
            tracing::debug!(error = %e, "could not forget stale members; will try again");
        }
    }
}

//! The readings table's definition, and bringing a table to it: create a missing table with every index, and add
//! the indexes a table made by an older version lacks, so a deployed table gets the key paths without a
//! migration step (issue 12).
//!
//! DynamoDB adds one global secondary index per `UpdateTable`, and a new index is backfilled from the table
//! before it is `ACTIVE` (it cannot be queried while it is `CREATING`), so the indexes are added one at a time,
//! each waited for. A role that may read a table but not change it (the instances' least-privilege role) still
//! starts on a table that has every index: nothing is written when nothing is missing.

use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableDescription, TableStatus,
};
use aws_sdk_dynamodb::Client;

use super::{
    build_error, sdk_error, CH, COUNTRY_INDEX, ID, ID_INDEX, LOCATION, LOCATION_INDEX, PK, SENSOR,
    SENSOR_INDEX, SK,
};
use crate::store::StoreError;

/// How long a process waits for the table and its indexes to become `ACTIVE`. A new table takes seconds; a new
/// index on a large table is backfilled first, which takes minutes (DynamoDB documents no bound), so this is
/// generous: a process that starts while an index is still backfilling waits for it rather than answering
/// keyed queries the slow way.
const ACTIVE_DEADLINE: Duration = Duration::from_secs(30 * 60);
const POLL: Duration = Duration::from_millis(500);

/// One global secondary index of the readings table: its name, partition key (attribute and type) and sort key.
/// Every index projects every attribute, so a query reads items, never keys then a `GetItem` per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub partition: (&'static str, ScalarAttributeType),
    pub sort: &'static str,
}

/// The table's indexes. `by_sensor`, `by_location` and `by_id` are keyed by attributes an item holds only when
/// the reading has them (location and id are optional, and a missing value is a missing attribute, never a NULL,
/// which DynamoDB would reject as an index key), so the latter two are sparse: an item without the key is not in
/// the index and costs nothing there.
pub const INDEXES: [IndexDef; 4] = [
    IndexDef {
        name: COUNTRY_INDEX,
        partition: (CH, ScalarAttributeType::S),
        sort: SK,
    },
    IndexDef {
        name: SENSOR_INDEX,
        partition: (SENSOR, ScalarAttributeType::N),
        sort: SK,
    },
    IndexDef {
        name: LOCATION_INDEX,
        partition: (LOCATION, ScalarAttributeType::N),
        sort: SK,
    },
    IndexDef {
        name: ID_INDEX,
        partition: (ID, ScalarAttributeType::N),
        sort: SK,
    },
];

fn attr(
    table: &str,
    name: &str,
    kind: ScalarAttributeType,
) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(|e| build_error(table, e))
}

fn key(table: &str, name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| build_error(table, e))
}

fn all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn gsi(table: &str, def: &IndexDef) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(def.name)
        .key_schema(key(table, def.partition.0, KeyType::Hash)?)
        .key_schema(key(table, def.sort, KeyType::Range)?)
        .projection(all())
        .build()
        .map_err(|e| build_error(table, e))
}

/// Creates the table (on-demand billing) with the key schema and every index of [`INDEXES`] if it does not
/// exist, adds the indexes an existing table lacks, and waits until the table and all its indexes are active.
/// The same constants the store reads and writes with define it: one definition.
///
/// An existing table is looked up first (`DescribeTable`), so a role whose identity may read and write a table
/// provisioned by `airq-deploy` but not create or update one (least privilege) still starts when the table is
/// complete; when an index is missing and the role may not add it, the error says which and who can.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    match provision(client, table).await?.first() {
        None => Ok(()),
        Some(denied) => Err(denied_error(table, denied.name, "access denied")),
    }
}

/// Like [`create_table`], but an index this identity may not add is returned instead of failing: the store
/// then answers that index's queries through the window (correct, at the window's cost) and says so in the
/// log, so instances whose role may not change the table keep serving until an identity that may adds it.
pub(super) async fn provision(
    client: &Client,
    table: &str,
) -> Result<Vec<&'static IndexDef>, StoreError> {
    match describe(client, table).await? {
        Some(_) => {}
        None => create(client, table).await?,
    }
    converge(client, table).await
}

fn denied_error(table: &str, index: &str, message: &str) -> StoreError {
    StoreError::DynamoDb {
        operation: "UpdateTable",
        table: table.to_string(),
        message: format!(
            "the table lacks the index {index} and this identity may not add it; open the store with an \
             identity allowed `dynamodb:UpdateTable`, or add it by hand: {message}"
        ),
        transient: false,
    }
}

async fn describe(client: &Client, table: &str) -> Result<Option<TableDescription>, StoreError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table().cloned()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sdk_error("DescribeTable", table, e)),
    }
}

async fn create(client: &Client, table: &str) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(table, PK, ScalarAttributeType::S)?)
        .attribute_definitions(attr(table, SK, ScalarAttributeType::S)?)
        .key_schema(key(table, PK, KeyType::Hash)?)
        .key_schema(key(table, SK, KeyType::Range)?);
    for def in &INDEXES {
        request = request
            .attribute_definitions(attr(table, def.partition.0, def.partition.1.clone())?)
            .global_secondary_indexes(gsi(table, def)?);
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // Another process created it first: `converge` waits for it like for ours.
        Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
        Err(e) => Err(sdk_error("CreateTable", table, e)),
    }
}

/// What a table still needs.
#[derive(Debug, PartialEq)]
enum Needs {
    /// Nothing: the table and every index are active.
    Nothing,
    /// The table or an index is being created or updated: wait.
    Wait,
    /// This index is missing: add it.
    Index(&'static IndexDef),
}

/// `denied`: indexes this identity may not add, not asked for again.
fn needs(described: &TableDescription, denied: &[&'static IndexDef]) -> Needs {
    if described.table_status() != Some(&TableStatus::Active) {
        return Needs::Wait;
    }
    let present = described.global_secondary_indexes();
    if present
        .iter()
        .any(|i| i.index_status().is_some_and(|s| s != &IndexStatus::Active))
    {
        return Needs::Wait;
    }
    INDEXES
        .iter()
        .filter(|def| !denied.iter().any(|d| d.name == def.name))
        .find(|def| !present.iter().any(|i| i.index_name() == Some(def.name)))
        .map_or(Needs::Nothing, Needs::Index)
}

/// Adds missing indexes one at a time until the table has them all, each waited for (bounded). Returns the
/// indexes this identity was not allowed to add.
async fn converge(client: &Client, table: &str) -> Result<Vec<&'static IndexDef>, StoreError> {
    let deadline = tokio::time::Instant::now() + ACTIVE_DEADLINE;
    let mut denied = Vec::new();
    loop {
        let described = describe(client, table)
            .await?
            .ok_or_else(|| StoreError::DynamoDb {
                operation: "DescribeTable",
                table: table.to_string(),
                message: "the table was deleted while it was being set up".into(),
                transient: true,
            })?;
        match needs(&described, &denied) {
            Needs::Nothing => return Ok(denied),
            Needs::Wait => {}
            Needs::Index(def) => {
                if !add_index(client, table, &described, def).await? {
                    tracing::warn!(
                        table,
                        index = def.name,
                        "the table lacks an index and this identity may not add it; its queries read the \
                         window until an identity allowed dynamodb:UpdateTable adds it"
                    );
                    denied.push(def);
                    continue;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::DynamoDb {
                operation: "UpdateTable",
                table: table.to_string(),
                message: format!(
                    "the table and its indexes did not become ACTIVE within {} minutes",
                    ACTIVE_DEADLINE.as_secs() / 60
                ),
                transient: true,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Asks DynamoDB to add one index; `false` when this identity may not. The attribute definitions sent are the table's current ones plus the new
/// index's key: DynamoDB rejects definitions no key uses, and the emulator replaces the table's definitions
/// with the ones sent, so sending exactly the needed set is right for both.
async fn add_index(
    client: &Client,
    table: &str,
    described: &TableDescription,
    def: &IndexDef,
) -> Result<bool, StoreError> {
    tracing::info!(
        table,
        index = def.name,
        "adding a missing index to the table"
    );
    let mut definitions: Vec<AttributeDefinition> = described.attribute_definitions().to_vec();
    for (name, kind) in [
        (def.partition.0, def.partition.1.clone()),
        (def.sort, ScalarAttributeType::S),
    ] {
        if !definitions.iter().any(|d| d.attribute_name() == name) {
            definitions.push(attr(table, name, kind)?);
        }
    }
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(def.name)
        .key_schema(key(table, def.partition.0, KeyType::Hash)?)
        .key_schema(key(table, def.sort, KeyType::Range)?)
        .projection(all())
        .build()
        .map_err(|e| build_error(table, e))?;
    let result = client
        .update_table()
        .table_name(table)
        .set_attribute_definitions(Some(definitions))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        // Another process is changing the table (perhaps adding this very index): look again after a while.
        Err(e)
            if matches!(
                e.code(),
                Some("ResourceInUseException") | Some("LimitExceededException")
            ) || e.message().is_some_and(|m| m.contains("already exists")) =>
        {
            Ok(true)
        }
        Err(e) if e.code() == Some("AccessDeniedException") => Ok(false),
        Err(e) => Err(sdk_error("UpdateTable", table, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::GlobalSecondaryIndexDescription;

    fn table(status: TableStatus, indexes: &[(&str, IndexStatus)]) -> TableDescription {
        let described = indexes.iter().map(|(name, status)| {
            GlobalSecondaryIndexDescription::builder()
                .index_name(*name)
                .index_status(status.clone())
                .build()
        });
        TableDescription::builder()
            .table_status(status)
            .set_global_secondary_indexes(Some(described.collect()))
            .build()
    }

    /// An old table (only `by_country_hour`) needs the key indexes one at a time, in order; one being built, or
    /// a table being updated, is waited for; an index this identity may not add is not asked for again.
    #[test]
    fn an_old_table_gets_its_indexes_one_at_a_time() {
        let active = IndexStatus::Active;
        let old = table(TableStatus::Active, &[(COUNTRY_INDEX, active.clone())]);
        assert_eq!(needs(&old, &[]), Needs::Index(&INDEXES[1]));
        assert_eq!(needs(&old, &[&INDEXES[1]]), Needs::Index(&INDEXES[2]));
        assert_eq!(
            needs(&old, &[&INDEXES[1], &INDEXES[2], &INDEXES[3]]),
            Needs::Nothing
        );
        let building = table(
            TableStatus::Active,
            &[
                (COUNTRY_INDEX, active.clone()),
                (SENSOR_INDEX, IndexStatus::Creating),
            ],
        );
        assert_eq!(needs(&building, &[]), Needs::Wait);
        let updating = table(TableStatus::Updating, &[(COUNTRY_INDEX, active.clone())]);
        assert_eq!(needs(&updating, &[]), Needs::Wait);
        let all: Vec<_> = INDEXES.iter().map(|d| (d.name, active.clone())).collect();
        assert_eq!(
            needs(&table(TableStatus::Active, &all), &[]),
            Needs::Nothing
        );
    }
}

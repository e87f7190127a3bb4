//! The stack's DynamoDB tables: the readings table, whose key schema is defined once, in
//! `airq_common::store::dynamodb`, and the results table (see [`super::results`]). This module creates the
//! readings table through its definition, and tags, reads and deletes either.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{TableStatus, Tag};

use super::Aws;
use crate::error::{classify, fail, from_common, Call, DeployError};
use crate::plan::TableState;
use crate::stack::TAG_STACK;

/// A table as found.
pub struct Found {
    pub state: TableState,
    pub arn: String,
}

/// The readings table, if it exists.
pub async fn find(aws: &Aws) -> Result<Option<Found>, DeployError> {
    find_table(aws, &aws.stack.table()).await
}

/// A table of the stack, if it exists.
pub async fn find_table(aws: &Aws, name: &str) -> Result<Option<Found>, DeployError> {
    let call = || {
        Call::new(
            "DescribeTable",
            "dynamodb:DescribeTable",
            format!("table {name}"),
        )
    };
    let out = match aws.dynamodb.describe_table().table_name(name).send().await {
        Ok(out) => out,
        Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(classify(call(), None, e)),
    };
    let Some(table) = out.table() else {
        return Ok(None);
    };
    let arn = table.table_arn().unwrap_or_default().to_string();
    let tags = aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(fail(
            "ListTagsOfResource",
            "dynamodb:ListTagsOfResource",
            format!("table {name}"),
        ))?;
    let tagged = tags
        .tags()
        .iter()
        .any(|t| t.key() == TAG_STACK && t.value() == aws.stack.as_str());
    Ok(Some(Found {
        state: TableState {
            active: table.table_status() == Some(&TableStatus::Active),
            deleting: table.table_status() == Some(&TableStatus::Deleting),
            tagged,
            item_count: table.item_count(),
            ttl: None,
        },
        arn,
    }))
}

/// Creates the readings table (waiting until it is active) with the store's own definition.
pub async fn create(aws: &Aws) -> Result<(), DeployError> {
    let name = aws.stack.table();
    airq_common::store::dynamodb::create_table(&aws.dynamodb, &name)
        .await
        .map_err(|e| match e {
            airq_common::StoreError::DynamoDb {
                message,
                operation,
                transient,
                ..
            } => from_common(
                Call::new(operation, permission(operation), format!("table {name}")),
                message,
                transient,
            ),
            other => DeployError::Store(other),
        })
}

/// The IAM permission of a DynamoDB operation that a common table definition performs.
pub fn permission(operation: &str) -> &'static str {
    match operation {
        "DescribeTable" => "dynamodb:DescribeTable",
        "UpdateTimeToLive" => "dynamodb:UpdateTimeToLive",
        "DescribeTimeToLive" => "dynamodb:DescribeTimeToLive",
        "TagResource" => "dynamodb:TagResource",
        "UpdateTable" => "dynamodb:UpdateTable",
        _ => "dynamodb:CreateTable",
    }
}

/// Adds the stack tag to a table of the stack.
pub async fn tag(aws: &Aws, name: &str) -> Result<(), DeployError> {
    let found = find_table(aws, name)
        .await?
        .ok_or_else(|| DeployError::Unexpected {
            resource: format!("table {name}"),
            message: "the table vanished before it could be tagged".into(),
        })?;
    let tag = Tag::builder()
        .key(TAG_STACK)
        .value(aws.stack.as_str())
        .build()
        .map_err(|e| DeployError::Unexpected {
            resource: format!("table {name}"),
            message: e.to_string(),
        })?;
    aws.dynamodb
        .tag_resource()
        .resource_arn(found.arn)
        .tags(tag)
        .send()
        .await
        .map_err(fail(
            "TagResource",
            "dynamodb:TagResource",
            format!("table {name}"),
        ))?;
    Ok(())
}

/// Deletes the readings table (all readings).
pub async fn delete(aws: &Aws) -> Result<bool, DeployError> {
    delete_table(aws, &aws.stack.table()).await
}

/// Deletes a table of the stack; returns whether it existed.
pub async fn delete_table(aws: &Aws, name: &str) -> Result<bool, DeployError> {
    match aws.dynamodb.delete_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(false),
        Err(e) => Err(fail(
            "DeleteTable",
            "dynamodb:DeleteTable",
            format!("table {name}"),
        )(e)),
    }
}

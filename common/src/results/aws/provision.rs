//! Provisioning the AWS result store: the DynamoDB table (key `id`, on-demand, TTL on `forget_at`) and the S3
//! bucket with its lifecycle rule, created on first use when missing, as `airq-deploy` would.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
};

use super::*;

/// Creates the results table: key `id`, on-demand billing, TTL on `forget_at`.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), ResultError> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| ResultError::Aws {
        service: "dynamodb",
        operation: "build request",
        resource: table.to_string(),
        message: e.to_string(),
        transient: false,
    };
    let created = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .map_err(build)?,
        )
        .tags(
            aws_sdk_dynamodb::types::Tag::builder()
                .key("airq:role")
                .value("results")
                .build()
                .map_err(build)?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if code_of(&e).as_deref() == Some("ResourceInUseException") => {}
        Err(e) => return Err(aws_error("dynamodb", "CreateTable", table, &e)),
    }
    for _ in 0..120 {
        let described = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| aws_error("dynamodb", "DescribeTable", table, &e))?;
        let active = described
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| s.as_str() == "ACTIVE");
        if active {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("forget_at")
                .enabled(true)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| aws_error("dynamodb", "UpdateTimeToLive", table, &e))?;
    Ok(())
}

/// The bucket's lifecycle: parts expire after [`PART_LIFETIME_DAYS`], unfinished uploads after a day.
pub fn lifecycle() -> Result<BucketLifecycleConfiguration, String> {
    let rule = LifecycleRule::builder()
        .id("airq-results-expiry")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(PARTS_PREFIX).build())
        .expiration(
            LifecycleExpiration::builder()
                .days(PART_LIFETIME_DAYS)
                .build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(1)
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())?;
    BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| e.to_string())
}

/// Creates the answer bucket: private, with the lifecycle rule.
pub async fn create_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: Option<&str>,
) -> Result<(), ResultError> {
    let mut request = s3.create_bucket().bucket(bucket);
    if let Some(region) = region.filter(|r| *r != "us-east-1") {
        request = request.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if code_of(&e).as_deref() == Some("BucketAlreadyOwnedByYou") => {}
        Err(e) => return Err(aws_error("s3", "CreateBucket", bucket, &e)),
    }
    let rules = lifecycle().map_err(|message| ResultError::Aws {
        service: "s3",
        operation: "build request",
        resource: bucket.to_string(),
        message,
        transient: false,
    })?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(rules)
        .send()
        .await
        .map_err(|e| aws_error("s3", "PutBucketLifecycleConfiguration", bucket, &e))?;
    Ok(())
}

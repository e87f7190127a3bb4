//! The stack's result store, where queued queries' answers live until clients fetch them: job records in the
//! results table, answer parts in the results bucket under `results/`.
//!
//! Both are defined once, in `airq_common::results::aws`: the table through its `create_table` (key, billing,
//! the TTL that forgets records), the bucket's lifecycle rule through `lifecycle()` (parts expire, unfinished
//! uploads are aborted). This module creates them with those definitions, makes them the stack's like its other
//! resources (tagged; the bucket private, and every bucket call naming its expected owner, which the common
//! `create_bucket` does not), reads their state for the planner, and removes them on `down`. Nothing in them
//! outlives a query by more than a few days, so `down` always removes them.

use airq_common::results::aws::lifecycle;
use airq_common::results::ResultError;
use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodb::types::TimeToLiveStatus;
use aws_sdk_s3::types::LifecycleRule;

use super::{bucket, table, Aws};
use crate::error::{fail, from_common, Call, DeployError};
use crate::plan::{BucketState, TableState};

/// The name of the stack's results bucket (see [`crate::stack::StackName::bucket_suffix`]).
pub async fn bucket_name(aws: &Aws) -> Result<String, DeployError> {
    let account = aws.account_id().await?;
    Ok(aws.stack.results_bucket(&account, &aws.region))
}

/// A common result-store error as a deploy error naming the table or bucket and the permission.
fn from_results(resource: String, err: ResultError) -> DeployError {
    match err {
        ResultError::Aws {
            service,
            operation,
            message,
            transient,
            ..
        } => {
            let permission = match service {
                "s3" => "s3:PutLifecycleConfiguration",
                _ => table::permission(operation),
            };
            from_common(
                Call::new(operation, permission, resource),
                message,
                transient,
            )
        }
        other => DeployError::Results(other),
    }
}

/// The results table, if it exists, with whether its TTL is on.
pub async fn find_table(aws: &Aws) -> Result<Option<TableState>, DeployError> {
    let name = aws.stack.results_table();
    let Some(found) = table::find_table(aws, &name).await? else {
        return Ok(None);
    };
    if found.state.deleting {
        return Ok(Some(found.state));
    }
    let described = match aws
        .dynamodb
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
    {
        Ok(d) => d,
        // Deleted since it was described.
        Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => {
            return Err(fail(
                "DescribeTimeToLive",
                "dynamodb:DescribeTimeToLive",
                format!("table {name}"),
            )(e))
        }
    };
    let ttl = described
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status())
        .is_some_and(|s| matches!(s, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
    Ok(Some(TableState {
        ttl: Some(ttl),
        ..found.state
    }))
}

/// Creates the results table with the result store's definition (waiting until it is active, TTL on), then
/// tags it.
pub async fn create_table(aws: &Aws, name: &str) -> Result<(), DeployError> {
    enable_ttl(aws, name).await?;
    table::tag(aws, name).await
}

/// Turns the results table's TTL on. The common definition does that as the last step of creating the table and
/// takes an existing table as created, so running it again finishes a creation that stopped before the TTL.
pub async fn enable_ttl(aws: &Aws, name: &str) -> Result<(), DeployError> {
    airq_common::results::aws::create_table(&aws.dynamodb, name)
        .await
        .map_err(|e| from_results(format!("table {name}"), e))
}

/// The results bucket, if it exists: whether it is tagged, private, and has the lifecycle rule.
pub async fn find_bucket(aws: &Aws, name: &str) -> Result<Option<BucketState>, DeployError> {
    if !bucket::exists(aws, name).await? {
        return Ok(None);
    }
    let (tagged, private, lifecycle) = tokio::try_join!(
        bucket::tagged(aws, name),
        bucket::private(aws, name),
        has_lifecycle(aws, name)
    )?;
    Ok(Some(BucketState {
        tagged,
        private,
        lifecycle,
    }))
}

/// Creates the results bucket: private, tagged, with the lifecycle rule.
pub async fn create_bucket(aws: &Aws, name: &str) -> Result<(), DeployError> {
    bucket::create(aws, name, "its results bucket").await?;
    put_lifecycle(aws, name).await
}

/// Makes an existing results bucket private and tagged, with the lifecycle rule (each call sets the whole
/// setting, so running it on a bucket that has some of them changes nothing else).
pub async fn configure_bucket(aws: &Aws, name: &str) -> Result<(), DeployError> {
    bucket::block_public_access(aws, name).await?;
    bucket::tag(aws, name).await?;
    put_lifecycle(aws, name).await
}

async fn put_lifecycle(aws: &Aws, name: &str) -> Result<(), DeployError> {
    let owner = aws.account_id().await?;
    let rules = lifecycle().map_err(|message| DeployError::Unexpected {
        resource: format!("bucket {name}"),
        message,
    })?;
    aws.s3
        .put_bucket_lifecycle_configuration()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .lifecycle_configuration(rules)
        .send()
        .await
        .map_err(fail(
            "PutBucketLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            format!("bucket {name}"),
        ))?;
    Ok(())
}

/// Whether the bucket has every rule of the result store's lifecycle, as defined now.
async fn has_lifecycle(aws: &Aws, name: &str) -> Result<bool, DeployError> {
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    let owner = aws.account_id().await?;
    let got = match aws
        .s3
        .get_bucket_lifecycle_configuration()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .send()
        .await
    {
        Ok(got) => got,
        Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => return Ok(false),
        Err(e) => {
            return Err(fail(
                "GetBucketLifecycleConfiguration",
                "s3:GetLifecycleConfiguration",
                format!("bucket {name}"),
            )(e))
        }
    };
    let wanted = lifecycle().map_err(|message| DeployError::Unexpected {
        resource: format!("bucket {name}"),
        message,
    })?;
    Ok(rules_match(wanted.rules(), got.rules()))
}

/// What a lifecycle rule does, as compared: S3 may hand a rule back with fields it filled in itself, so rules are
/// compared on what airq sets (id, status, prefix, expiry, abort of unfinished uploads), not as whole values.
fn shape(rule: &LifecycleRule) -> (Option<&str>, &str, Option<&str>, Option<i32>, Option<i32>) {
    (
        rule.id(),
        rule.status().as_str(),
        rule.filter().and_then(|f| f.prefix()),
        rule.expiration().and_then(|e| e.days()),
        rule.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
    )
}

/// Whether every wanted rule is among the rules found.
fn rules_match(wanted: &[LifecycleRule], got: &[LifecycleRule]) -> bool {
    wanted
        .iter()
        .all(|w| got.iter().any(|g| shape(g) == shape(w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{ExpirationStatus, LifecycleExpiration};

    #[test]
    fn the_lifecycle_is_compared_on_what_airq_sets() {
        let wanted = lifecycle().expect("lifecycle");
        let rules = wanted.rules();
        assert!(!rules.is_empty());
        assert!(rules_match(rules, rules));
        assert!(!rules_match(rules, &[]));
        // A rule with another expiry (an older PART_LIFETIME_DAYS) does not count.
        let mut other = rules[0].clone();
        other.expiration = Some(LifecycleExpiration::builder().days(30).build());
        assert!(!rules_match(rules, std::slice::from_ref(&other)));
        let mut disabled = rules[0].clone();
        disabled.status = ExpirationStatus::Disabled;
        assert!(!rules_match(rules, &[disabled]));
        // Rules of its own that an operator added are left alone.
        assert!(rules_match(rules, &[other, rules[0].clone()]));
    }
}

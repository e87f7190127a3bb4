//! Reads everything a stack has, in parallel, into an [`Observed`] for the planner.

use super::{artifact, ec2, queues, results, table, Aws};
use crate::error::DeployError;
use crate::plan::Observed;

/// What to look for beyond the stack's own resources.
#[derive(Debug, Clone)]
pub struct Lookups {
    /// The results bucket's name (it depends on the account, which the caller has looked up already).
    pub results_bucket: String,
    /// Whether the artifact object with this key is in the stack's bucket.
    pub artifact_key: Option<String>,
    /// Look up the latest Amazon Linux 2023 AMI.
    pub latest_ami: bool,
}

pub async fn observe(aws: &Aws, lookups: &Lookups) -> Result<Observed, DeployError> {
    let (request, dlq) = (aws.stack.request_queue(), aws.stack.dead_letter_queue());
    let (
        table,
        results_table,
        results_bucket,
        request_queue,
        dead_letter_queue,
        bucket,
        groups,
        templates,
        instances,
        latest_ami,
    ) = tokio::try_join!(
        table::find(aws),
        results::find_table(aws),
        results::find_bucket(aws, &lookups.results_bucket),
        queues::find(aws, &request),
        queues::find(aws, &dlq),
        artifact::find_bucket(aws),
        ec2::find_groups(aws),
        ec2::find_templates(aws),
        ec2::instances(aws),
        async {
            if lookups.latest_ami {
                ec2::latest_al2023(aws).await
            } else {
                Ok(None)
            }
        },
    )?;
    let artifact_uploaded = match (&bucket, &lookups.artifact_key) {
        (Some(bucket), Some(key)) => artifact::object_exists(aws, bucket, key).await?,
        _ => false,
    };
    Ok(Observed {
        table: table.map(|t| t.state),
        results_table,
        results_bucket,
        request_queue: request_queue.map(|q| q.state),
        dead_letter_queue: dead_letter_queue.map(|q| q.state),
        bucket,
        artifact_uploaded,
        groups,
        templates,
        instances,
        latest_ami,
    })
}

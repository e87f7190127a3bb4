//! Carries out a plan's steps in order. Each step is idempotent, and the plan was computed from what exists, so
//! when a step fails (a missing permission, a quota), fixing the cause and running `up` again finishes the job.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;

use super::{artifact, ec2, queues, results, table, Aws};
use crate::error::DeployError;
use crate::plan::{Desired, LaunchSpec, Observed, Plan, Step};
use crate::stack::{GroupKind, Role};

/// What `up` did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub steps_done: usize,
    pub launched: Vec<String>,
}

/// Applies `plan` (computed for `desired` from `observed`), calling `progress` after each step, then waits (at
/// most `wait`) for launched instances to run.
pub async fn apply(
    aws: &Aws,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
    wait: Duration,
    mut progress: impl FnMut(&Step),
) -> Result<Applied, DeployError> {
    let mut applied = Applied::default();
    let mut group_ids: BTreeMap<GroupKind, String> = observed
        .groups
        .iter()
        .map(|(k, g)| (*k, g.id.clone()))
        .collect();
    // The image each role launches with, to name it if EC2 refuses it.
    let images: HashMap<Role, String> = crate::plan::launch_specs(desired, observed)
        .map_err(|e| DeployError::Invalid(e.to_string()))?
        .into_iter()
        .map(|s| (s.role, s.image_id))
        .collect();
    // A table made by an older airq lacks the key indexes (issue 12): bring it to the store's definition (a
    // `DescribeTable` when nothing is missing; one `UpdateTable` per missing index, each waited for), so the
    // instances' least-privilege role never needs to change it.
    if !plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::CreateTable { .. }))
        && observed.table.is_some()
    {
        table::create(aws).await?;
    }
    for step in &plan.steps {
        match step {
            Step::CreateTable { .. } => {
                table::create(aws).await?;
                table::tag(aws, &aws.stack.table()).await?;
            }
            Step::TagTable { name } => table::tag(aws, name).await?,
            Step::CreateResultsTable { name } => results::create_table(aws, name).await?,
            Step::EnableResultsTtl { name } => results::enable_ttl(aws, name).await?,
            Step::CreateQueue { name, dead_letter } => {
                let dlq = dead_letter.as_ref().map(|(n, max)| (n.as_str(), *max));
                queues::create(aws, name, dlq).await?;
            }
            Step::SetRedrive {
                name,
                dead_letter,
                max_receives,
            } => queues::set_redrive(aws, name, dead_letter, *max_receives).await?,
            Step::TagQueue { name } => queues::tag(aws, name).await?,
            Step::CreateBucket { name } => artifact::create_bucket(aws, name).await?,
            Step::UploadArtifact(upload) => {
                artifact::upload(aws, &upload.bucket, &upload.key, &upload.path).await?
            }
            Step::CreateResultsBucket { name } => results::create_bucket(aws, name).await?,
            Step::ConfigureResultsBucket { name, .. } => {
                results::configure_bucket(aws, name).await?
            }
            Step::CreateSecurityGroup { kind, .. } => {
                let vpc = ec2::vpc_id(aws, desired.launch.subnet.as_deref()).await?;
                group_ids.insert(*kind, ec2::create_group(aws, *kind, &vpc).await?);
            }
            Step::AuthorizeIngress { kind, rule, .. } => {
                ec2::authorize(aws, require(&group_ids, *kind)?, rule).await?
            }
            Step::RevokeIngress {
                kind,
                rule,
                rule_id,
                ..
            } => ec2::revoke(aws, require(&group_ids, *kind)?, rule, rule_id.as_deref()).await?,
            // The group may have been created by this run: its id is part of the settings recorded.
            Step::CreateLaunchTemplate(spec) => {
                let group = require(&group_ids, GroupKind::of(spec.role))?;
                let spec = LaunchSpec {
                    group_id: Some(group.to_string()),
                    ..spec.clone()
                };
                ec2::create_template(aws, &spec, group).await?
            }
            Step::UpdateLaunchTemplate { spec, .. } => {
                let group = require(&group_ids, GroupKind::of(spec.role))?;
                let spec = LaunchSpec {
                    group_id: Some(group.to_string()),
                    ..spec.clone()
                };
                ec2::update_template(aws, &spec, group).await?
            }
            Step::Launch { role, count } => {
                let ids =
                    ec2::launch(aws, *role, *count, images.get(role).map(String::as_str)).await?;
                applied.launched.extend(ids);
            }
            Step::Terminate { instance_ids, .. } => ec2::terminate(aws, instance_ids).await?,
        }
        applied.steps_done += 1;
        progress(step);
    }
    ec2::wait_for(aws, &applied.launched, InstanceStateName::Running, wait).await?;
    Ok(applied)
}

fn require(group_ids: &BTreeMap<GroupKind, String>, kind: GroupKind) -> Result<&str, DeployError> {
    group_ids
        .get(&kind)
        .map(String::as_str)
        .ok_or_else(|| DeployError::Unexpected {
            resource: format!("the {} security group", kind.as_str()),
            message: "it neither exists nor was created".into(),
        })
}

//! The stack's instances: listing, launching from the launch templates, terminating, waiting.

use std::time::Duration;

use aws_sdk_ec2::client::Waiters as _;
use aws_sdk_ec2::types::{InstanceStateName, LaunchTemplateSpecification};

use super::{filter, stack_filter};
use crate::aws::Aws;
use crate::error::{classify, fail, Call, DeployError};
use crate::plan::InstanceState;
use crate::stack::{Role, TAG_API, TAG_ARTIFACT, TAG_ROLE, TAG_SPEC};

/// The stack's instances that are not terminated.
pub async fn instances(aws: &Aws) -> Result<Vec<InstanceState>, DeployError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .ec2
            .describe_instances()
            .filters(stack_filter(aws))
            .filters(filter(
                "instance-state-name",
                &["pending", "running", "stopping", "stopped", "shutting-down"],
            ))
            .set_next_token(token)
            .send()
            .await
            .map_err(fail(
                "DescribeInstances",
                "ec2:DescribeInstances",
                format!("instances of stack {}", aws.stack),
            ))?;
        for instance in out.reservations().iter().flat_map(|r| r.instances()) {
            let tag_value = |key: &str| {
                instance
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .map(str::to_string)
            };
            let Some(role) = tag_value(TAG_ROLE).and_then(|r| r.parse::<Role>().ok()) else {
                continue;
            };
            found.push(InstanceState {
                id: instance.instance_id().unwrap_or_default().to_string(),
                role,
                state: instance
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default(),
                launched: instance.launch_time().map(|t| t.secs()).unwrap_or(0),
                public_ip: instance.public_ip_address().map(str::to_string),
                public_dns: instance
                    .public_dns_name()
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
                artifact: tag_value(TAG_ARTIFACT),
                spec: tag_value(TAG_SPEC),
                api: tag_value(TAG_API),
            });
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// Launches `count` instances of a role from its launch template. A client token makes the SDK's own retries
/// of this call safe (they cannot launch twice). `ami` is the template's image, named in the error if EC2 refuses it.
pub async fn launch(
    aws: &Aws,
    role: Role,
    count: u32,
    ami: Option<&str>,
) -> Result<Vec<String>, DeployError> {
    let name = aws.stack.launch_template(role);
    let count = i32::try_from(count)
        .map_err(|_| DeployError::Invalid(format!("cannot launch {count} instances")))?;
    let out = aws
        .ec2
        .run_instances()
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(&name)
                .version("$Default")
                .build(),
        )
        .min_count(count)
        .max_count(count)
        .client_token(uuid_like())
        .send()
        .await
        .map_err(|e| {
            classify(
                Call::new(
                    "RunInstances",
                    "ec2:RunInstances",
                    format!("{count} {role} instance(s) of stack {}", aws.stack),
                ),
                ami,
                e,
            )
        })?;
    Ok(out
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect())
}

fn uuid_like() -> String {
    format!(
        "airq-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// Terminates instances. On termination EC2 shuts the instance down, and systemd stops the role with SIGTERM
/// (a worker drains its jobs in hand).
pub async fn terminate(aws: &Aws, ids: &[String]) -> Result<(), DeployError> {
    if ids.is_empty() {
        return Ok(());
    }
    aws.ec2
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(fail(
            "TerminateInstances",
            "ec2:TerminateInstances",
            format!("instances {}", ids.join(", ")),
        ))?;
    Ok(())
}

/// Waits (at most `wait`) until the instances reach `state`.
pub async fn wait_for(
    aws: &Aws,
    ids: &[String],
    state: InstanceStateName,
    wait: Duration,
) -> Result<(), DeployError> {
    if ids.is_empty() || wait.is_zero() {
        return Ok(());
    }
    let what = format!("instances {} to be {}", ids.join(", "), state.as_str());
    let result = match state {
        InstanceStateName::Terminated => aws
            .ec2
            .wait_until_instance_terminated()
            .set_instance_ids(Some(ids.to_vec()))
            .wait(wait)
            .await
            .map(|_| ()),
        _ => aws
            .ec2
            .wait_until_instance_running()
            .set_instance_ids(Some(ids.to_vec()))
            .wait(wait)
            .await
            .map(|_| ()),
    };
    result.map_err(|e| match e {
        aws_sdk_ec2::waiters::instance_running::WaitUntilInstanceRunningError::ExceededMaxWait(
            _,
        ) => DeployError::Timeout { what, waited: wait },
        other => DeployError::Unexpected {
            resource: what,
            message: aws_sdk_ec2::error::DisplayErrorContext(&other).to_string(),
        },
    })
}

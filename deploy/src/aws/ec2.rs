//! EC2: the Amazon Linux 2023 AMI lookup, the gateways' security group, one launch template per role, and the
//! stack's instances. Everything created carries the stack tag (instances and volumes also the role tag, through
//! the launch template), and is found again by those tags.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::client::Waiters as _;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, InstanceStateName, IpPermission, IpRange, Ipv6Range, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, LaunchTemplateSpecification,
    LaunchTemplateTagSpecificationRequest, PrefixListId, RequestLaunchTemplateData, ResourceType,
    Tag, TagSpecification, UserIdGroupPair,
};
use base64::Engine as _;

use super::Aws;
use crate::error::{classify, fail, Call, DeployError};
use crate::plan::{spec_hash_of, GroupState, Ingress, InstanceState, LaunchSpec, TemplateState};
use crate::stack::{GroupKind, Role, TAG_ARTIFACT, TAG_ROLE, TAG_SPEC, TAG_STACK};

/// The owner alias of Amazon's own AMIs.
const AMAZON: &str = "amazon";
/// Amazon Linux 2023 standard (not minimal) x86_64 images.
const AL2023_NAME: &str = "al2023-ami-2023.*-x86_64";

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn stack_filter(aws: &Aws) -> Filter {
    filter(&format!("tag:{TAG_STACK}"), &[aws.stack.as_str()])
}

/// The newest Amazon Linux 2023 x86_64 AMI of the region, by creation date (then name).
pub async fn latest_al2023(aws: &Aws) -> Result<Option<String>, DeployError> {
    let out = aws
        .ec2
        .describe_images()
        .owners(AMAZON)
        .filters(filter("name", &[AL2023_NAME]))
        .filters(filter("architecture", &["x86_64"]))
        .filters(filter("state", &["available"]))
        .send()
        .await
        .map_err(fail(
            "DescribeImages",
            "ec2:DescribeImages",
            "Amazon Linux 2023 images",
        ))?;
    Ok(out
        .images()
        .iter()
        .filter(|i| !i.name().unwrap_or_default().contains("minimal"))
        .max_by(|a, b| {
            (
                a.creation_date().unwrap_or_default(),
                a.name().unwrap_or_default(),
            )
                .cmp(&(
                    b.creation_date().unwrap_or_default(),
                    b.name().unwrap_or_default(),
                ))
        })
        .and_then(|i| i.image_id().map(str::to_string)))
}

/// Checks that an AMI given with `--ami` exists in this region and is x86_64 (the airq artifact's
/// architecture), before anything is created: a bad AMI then fails `up` at once instead of half-way.
pub async fn check_image(aws: &Aws, ami: &str) -> Result<(), DeployError> {
    let call = || {
        Call::new(
            "DescribeImages",
            "ec2:DescribeImages",
            format!("the instances' image in {}", aws.region),
        )
    };
    let bad = |code: &str, message: String| DeployError::BadAmi {
        operation: "DescribeImages",
        resource: format!("the instances' image in {}", aws.region),
        ami: ami.to_string(),
        code: code.to_string(),
        message,
    };
    let out = aws
        .ec2
        .describe_images()
        .image_ids(ami)
        .send()
        .await
        .map_err(|e| classify(call(), Some(ami), e))?;
    let Some(image) = out.images().first() else {
        return Err(bad(
            "InvalidAMIID.NotFound",
            format!("no image {ami} in {}", aws.region),
        ));
    };
    match image.architecture().map(|a| a.as_str()) {
        Some("x86_64") | None => Ok(()),
        Some(other) => Err(bad(
            "UnsupportedArchitecture",
            format!("the image is {other}; the airq artifact is built for x86_64"),
        )),
    }
}

/// The VPC to put the security group in: the subnet's, or the account's default VPC.
pub async fn vpc_id(aws: &Aws, subnet: Option<&str>) -> Result<String, DeployError> {
    if let Some(subnet) = subnet {
        let out = aws
            .ec2
            .describe_subnets()
            .subnet_ids(subnet)
            .send()
            .await
            .map_err(fail(
                "DescribeSubnets",
                "ec2:DescribeSubnets",
                format!("subnet {subnet}"),
            ))?;
        return out
            .subnets()
            .first()
            .and_then(|s| s.vpc_id())
            .map(str::to_string)
            .ok_or_else(|| {
                DeployError::Invalid(format!("subnet {subnet} was not found in {}", aws.region))
            });
    }
    let out = aws
        .ec2
        .describe_vpcs()
        .filters(filter("is-default", &["true"]))
        .send()
        .await
        .map_err(fail("DescribeVpcs", "ec2:DescribeVpcs", "the default VPC"))?;
    out.vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string)
        .ok_or_else(|| {
            DeployError::Invalid(format!(
                "the account has no default VPC in {}; pass --subnet to choose where instances run",
                aws.region
            ))
        })
}

/// The stack's security groups and their ingress rules (every kind of source, so rules added by hand show).
pub async fn find_groups(aws: &Aws) -> Result<BTreeMap<GroupKind, GroupState>, DeployError> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(stack_filter(aws))
        .send()
        .await
        .map_err(fail(
            "DescribeSecurityGroups",
            "ec2:DescribeSecurityGroups",
            format!("security groups of stack {}", aws.stack),
        ))?;
    let mut found = BTreeMap::new();
    for g in out.security_groups() {
        let Some(kind) = GroupKind::ALL
            .into_iter()
            .find(|k| g.group_name() == Some(aws.stack.security_group(*k).as_str()))
        else {
            continue;
        };
        let id = g.group_id().unwrap_or_default().to_string();
        let mut state = GroupState {
            ingress: Vec::new(),
            rule_ids: BTreeMap::new(),
            id,
        };
        for (rule, rule_id) in ingress_rules(aws, &state.id).await? {
            state.ingress.push(rule.clone());
            state.rule_ids.insert(rule, rule_id);
        }
        found.insert(kind, state);
    }
    Ok(found)
}

/// A group's ingress rules with their ids (`DescribeSecurityGroupRules`), whatever their source.
async fn ingress_rules(aws: &Aws, group_id: &str) -> Result<Vec<(Ingress, String)>, DeployError> {
    let mut rules = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .ec2
            .describe_security_group_rules()
            .filters(filter("group-id", &[group_id]))
            .set_next_token(token)
            .send()
            .await
            .map_err(fail(
                "DescribeSecurityGroupRules",
                "ec2:DescribeSecurityGroupRules",
                format!("security group {group_id}"),
            ))?;
        for r in out.security_group_rules() {
            if r.is_egress() == Some(true) {
                continue;
            }
            let source = r
                .cidr_ipv4()
                .or(r.cidr_ipv6())
                .or(r.prefix_list_id())
                .or(r.referenced_group_info().and_then(|g| g.group_id()));
            let (Some(source), Some(rule_id)) = (source, r.security_group_rule_id()) else {
                continue;
            };
            rules.push((
                Ingress {
                    protocol: r.ip_protocol().unwrap_or("-1").to_string(),
                    from_port: r.from_port().unwrap_or(-1),
                    to_port: r.to_port().unwrap_or(-1),
                    source: source.to_string(),
                },
                rule_id.to_string(),
            ));
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(rules);
        }
    }
}

pub async fn create_group(aws: &Aws, kind: GroupKind, vpc: &str) -> Result<String, DeployError> {
    let name = aws.stack.security_group(kind);
    let description = match kind {
        GroupKind::Gateway => format!("airq stack {}: gateways, gateway port only", aws.stack),
        GroupKind::Private => format!("airq stack {}: master and workers, no inbound", aws.stack),
    };
    let out = aws
        .ec2
        .create_security_group()
        .group_name(&name)
        .description(description)
        .vpc_id(vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(tag(TAG_STACK, aws.stack.as_str()))
                .tags(tag("Name", &name))
                .build(),
        )
        .send()
        .await
        .map_err(fail(
            "CreateSecurityGroup",
            "ec2:CreateSecurityGroup",
            format!("security group {name}"),
        ))?;
    out.group_id()
        .map(str::to_string)
        .ok_or_else(|| DeployError::Unexpected {
            resource: format!("security group {name}"),
            message: "CreateSecurityGroup returned no id".into(),
        })
}

/// The rule as EC2 takes it; `describe` adds a description (not part of a rule's identity, so revocations
/// leave it out).
fn permission(rule: &Ingress, describe: bool) -> IpPermission {
    let description = describe.then(|| format!("airq: {rule}"));
    let source = rule.source.as_str();
    let builder = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    let builder = if source.starts_with("sg-") {
        builder.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(source)
                .set_description(description)
                .build(),
        )
    } else if source.starts_with("pl-") {
        builder.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(source)
                .set_description(description)
                .build(),
        )
    } else if source.contains(':') {
        builder.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(source)
                .set_description(description)
                .build(),
        )
    } else {
        builder.ip_ranges(
            IpRange::builder()
                .cidr_ip(source)
                .set_description(description)
                .build(),
        )
    };
    builder.build()
}

pub async fn authorize(aws: &Aws, group_id: &str, rule: &Ingress) -> Result<(), DeployError> {
    match aws
        .ec2
        .authorize_security_group_ingress()
        .group_id(group_id)
        .ip_permissions(permission(rule, true))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("InvalidPermission.Duplicate") => Ok(()),
        Err(e) => Err(fail(
            "AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupIngress",
            format!("security group {group_id} ({rule})"),
        )(e)),
    }
}

/// Revokes a rule: by its id when known (an exact match for every kind of source), else by its description,
/// checking that EC2 really matched it (in a default VPC an unmatched rule is reported, not refused).
pub async fn revoke(
    aws: &Aws,
    group_id: &str,
    rule: &Ingress,
    rule_id: Option<&str>,
) -> Result<(), DeployError> {
    let request = aws.ec2.revoke_security_group_ingress().group_id(group_id);
    let request = match rule_id {
        Some(id) => request.security_group_rule_ids(id),
        None => request.ip_permissions(permission(rule, false)),
    };
    let call = || {
        Call::new(
            "RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            format!("security group {group_id} ({rule})"),
        )
    };
    match request.send().await {
        Ok(out) if !out.unknown_ip_permissions().is_empty() => Err(DeployError::Unexpected {
            resource: format!("security group {group_id}"),
            message: format!(
                "EC2 found no rule matching {rule} to revoke; remove it in the EC2 console"
            ),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("InvalidPermission.NotFound") && rule_id.is_none() => {
            Err(DeployError::Unexpected {
                resource: format!("security group {group_id}"),
                message: format!(
                    "EC2 found no rule matching {rule} to revoke; remove it in the EC2 console"
                ),
            })
        }
        Err(e) => Err(classify(call(), None, e)),
    }
}

/// Deletes the security group; EC2 refuses while instances still use it, so this retries (bounded) while
/// terminated instances let go of it.
pub async fn delete_group(aws: &Aws, group_id: &str, wait: Duration) -> Result<(), DeployError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match aws
            .ec2
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("InvalidGroup.NotFound") => return Ok(()),
            Err(e)
                if e.code() == Some("DependencyViolation")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => {
                return Err(fail(
                    "DeleteSecurityGroup",
                    "ec2:DeleteSecurityGroup",
                    format!("security group {group_id}"),
                )(e))
            }
        }
    }
}

/// The stack's launch templates by role, with the default version's settings hash and AMI.
pub async fn find_templates(aws: &Aws) -> Result<BTreeMap<Role, TemplateState>, DeployError> {
    let mut found = BTreeMap::new();
    let out = aws
        .ec2
        .describe_launch_templates()
        .filters(stack_filter(aws))
        .send()
        .await
        .map_err(fail(
            "DescribeLaunchTemplates",
            "ec2:DescribeLaunchTemplates",
            format!("launch templates of stack {}", aws.stack),
        ))?;
    for template in out.launch_templates() {
        let (Some(name), Some(id)) = (
            template.launch_template_name(),
            template.launch_template_id(),
        ) else {
            continue;
        };
        let Some(role) = Role::ALL
            .into_iter()
            .find(|r| aws.stack.launch_template(*r) == name)
        else {
            continue;
        };
        let versions = aws
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions("$Default")
            .send()
            .await
            .map_err(fail(
                "DescribeLaunchTemplateVersions",
                "ec2:DescribeLaunchTemplateVersions",
                format!("launch template {name}"),
            ))?;
        let version = versions.launch_template_versions().first();
        found.insert(
            role,
            TemplateState {
                id: id.to_string(),
                default_version: version.and_then(|v| v.version_number()).unwrap_or(1),
                spec_hash: version
                    .and_then(|v| v.version_description())
                    .and_then(spec_hash_of),
                image_id: version
                    .and_then(|v| v.launch_template_data())
                    .and_then(|d| d.image_id())
                    .map(str::to_string),
            },
        );
    }
    Ok(found)
}

fn template_data(aws: &Aws, spec: &LaunchSpec, group_id: &str) -> RequestLaunchTemplateData {
    let tags = |kind: ResourceType| {
        LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(kind)
            .tags(tag(TAG_STACK, aws.stack.as_str()))
            .tags(tag(TAG_ROLE, spec.role.as_str()))
            .tags(tag(TAG_ARTIFACT, &spec.artifact_tag))
            .tags(tag(TAG_SPEC, &spec.hash()))
            .tags(tag("Name", &aws.stack.instance_name(spec.role)))
            .build()
    };
    let mut data = RequestLaunchTemplateData::builder()
        // IMDSv2 only: instance credentials cannot be read through a request forgery on the instance.
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(1)
                .build(),
        )
        .image_id(&spec.image_id)
        .instance_type(spec.instance_type.as_str().into())
        .user_data(base64::engine::general_purpose::STANDARD.encode(&spec.user_data))
        .tag_specifications(tags(ResourceType::Instance))
        .tag_specifications(tags(ResourceType::Volume))
        .set_key_name(spec.key_name.clone());
    if let Some(profile) = &spec.instance_profile {
        data = data.iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(profile)
                .build(),
        );
    }
    data = match &spec.subnet {
        // In a chosen subnet the group goes on the network interface, which also gets a public address so the
        // gateways can be reached (and instances can reach AWS without a NAT).
        Some(subnet) => data.network_interfaces(
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(0)
                .subnet_id(subnet)
                .groups(group_id)
                .associate_public_ip_address(true)
                .build(),
        ),
        None => data.security_group_ids(group_id),
    };
    data.build()
}

pub async fn create_template(
    aws: &Aws,
    spec: &LaunchSpec,
    group_id: &str,
) -> Result<(), DeployError> {
    let name = aws.stack.launch_template(spec.role);
    aws.ec2
        .create_launch_template()
        .launch_template_name(&name)
        .version_description(spec.description())
        .launch_template_data(template_data(aws, spec, group_id))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::LaunchTemplate)
                .tags(tag(TAG_STACK, aws.stack.as_str()))
                .tags(tag(TAG_ROLE, spec.role.as_str()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            classify(
                Call::new(
                    "CreateLaunchTemplate",
                    "ec2:CreateLaunchTemplate",
                    format!("launch template {name}"),
                ),
                Some(&spec.image_id),
                e,
            )
        })?;
    Ok(())
}

/// Adds a version with the new settings and makes it the default, which new instances are launched from.
pub async fn update_template(
    aws: &Aws,
    spec: &LaunchSpec,
    group_id: &str,
) -> Result<(), DeployError> {
    let name = aws.stack.launch_template(spec.role);
    let out = aws
        .ec2
        .create_launch_template_version()
        .launch_template_name(&name)
        .version_description(spec.description())
        .launch_template_data(template_data(aws, spec, group_id))
        .send()
        .await
        .map_err(|e| {
            classify(
                Call::new(
                    "CreateLaunchTemplateVersion",
                    "ec2:CreateLaunchTemplateVersion",
                    format!("launch template {name}"),
                ),
                Some(&spec.image_id),
                e,
            )
        })?;
    let version = out
        .launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| DeployError::Unexpected {
            resource: format!("launch template {name}"),
            message: "CreateLaunchTemplateVersion returned no version".into(),
        })?;
    aws.ec2
        .modify_launch_template()
        .launch_template_name(&name)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(fail(
            "ModifyLaunchTemplate",
            "ec2:ModifyLaunchTemplate",
            format!("launch template {name}"),
        ))?;
    Ok(())
}

pub async fn delete_template(aws: &Aws, id: &str) -> Result<(), DeployError> {
    match aws
        .ec2
        .delete_launch_template()
        .launch_template_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.code()
                .is_some_and(|c| c.starts_with("InvalidLaunchTemplateId")) =>
        {
            Ok(())
        }
        Err(e) => Err(fail(
            "DeleteLaunchTemplate",
            "ec2:DeleteLaunchTemplate",
            format!("launch template {id}"),
        )(e)),
    }
}

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

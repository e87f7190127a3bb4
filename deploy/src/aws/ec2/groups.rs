//! The network: the VPC instances go in, and the stack's two security groups with their exact ingress rules.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, TagSpecification, UserIdGroupPair,
};

use super::{filter, stack_filter, tag};
use crate::aws::Aws;
use crate::error::{classify, fail, Call, DeployError};
use crate::plan::{GroupState, Ingress};
use crate::stack::{GroupKind, TAG_STACK};

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

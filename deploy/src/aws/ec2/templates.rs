//! One launch template per role: how `up`, `scale` and `autoscale` launch instances.

use std::collections::BTreeMap;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    TagSpecification,
};
use base64::Engine as _;

use super::{stack_filter, tag};
use crate::aws::Aws;
use crate::error::{classify, fail, Call, DeployError};
use crate::plan::{spec_hash_of, LaunchSpec, TemplateState};
use crate::stack::{Role, TAG_API, TAG_ARTIFACT, TAG_ROLE, TAG_SPEC, TAG_STACK};

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
        let mut tags = LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(kind)
            .tags(tag(TAG_STACK, aws.stack.as_str()))
            .tags(tag(TAG_ROLE, spec.role.as_str()))
            .tags(tag(TAG_ARTIFACT, &spec.artifact_tag))
            .tags(tag(TAG_SPEC, &spec.hash()))
            .tags(tag("Name", &aws.stack.instance_name(spec.role)));
        if let Some(api) = &spec.api_tag {
            tags = tags.tags(tag(TAG_API, api));
        }
        tags.build()
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

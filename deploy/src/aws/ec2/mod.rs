//! EC2: the Amazon Linux 2023 AMI lookup ([`images`]), the stack's two security groups ([`groups`]), one launch
//! template per role ([`templates`]), and the stack's instances ([`instances`]). Everything created carries the
//! stack tag (instances and volumes also the role tag, through the launch template), and is found again by those
//! tags.

use aws_sdk_ec2::types::{Filter, Tag};

use super::Aws;
use crate::stack::TAG_STACK;

pub mod groups;
pub mod images;
pub mod instances;
pub mod templates;

pub use groups::{authorize, create_group, delete_group, find_groups, revoke, vpc_id};
pub use images::{check_image, latest_al2023};
pub use instances::{instances, launch, terminate, wait_for};
pub use templates::{create_template, delete_template, find_templates, update_template};

pub(crate) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

pub(crate) fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

pub(crate) fn stack_filter(aws: &Aws) -> Filter {
    filter(&format!("tag:{TAG_STACK}"), &[aws.stack.as_str()])
}

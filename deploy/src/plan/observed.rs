//! What AWS has of a stack, as read by `aws::observe`: the planner's other input, kept free of SDK types so the
//! planner stays pure and testable.

use std::collections::BTreeMap;

use super::Ingress;
use crate::stack::{GroupKind, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    pub active: bool,
    /// DynamoDB is still deleting it (a `down --delete-data` moments ago).
    pub deleting: bool,
    pub tagged: bool,
    pub item_count: Option<i64>,
    /// Whether its TTL is on; looked up only for the results table, whose records expire by TTL.
    pub ttl: Option<bool>,
}

/// The results bucket as found (the artifact bucket is found by name and tag alone: it only has to exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketState {
    pub tagged: bool,
    /// All four public-access blocks are on.
    pub private: bool,
    /// It has the result store's lifecycle rule as `airq_common::results::aws::lifecycle` defines it now.
    pub lifecycle: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueState {
    pub url: String,
    /// The redrive policy's receive limit, if the queue has one.
    pub max_receives: Option<u32>,
    pub tagged: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub id: String,
    pub ingress: Vec<Ingress>,
    /// The id EC2 gives each ingress rule: a rule is revoked by its id, which matches exactly whatever its
    /// source (a revocation by description of the rule can silently match nothing).
    pub rule_ids: BTreeMap<Ingress, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateState {
    pub id: String,
    pub default_version: i64,
    /// The launch-settings hash recorded in the default version's description.
    pub spec_hash: Option<String>,
    pub image_id: Option<String>,
}

/// An instance of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    pub id: String,
    pub role: Role,
    /// EC2's state name: pending, running, stopping, stopped, shutting-down, terminated.
    pub state: String,
    /// Launch time, seconds since the epoch (orders "newest first").
    pub launched: i64,
    pub public_ip: Option<String>,
    pub public_dns: Option<String>,
    pub artifact: Option<String>,
    /// The launch-settings hash it was launched with.
    pub spec: Option<String>,
    /// Gateways: who may use it, as launched (its `airq:api` tag).
    pub api: Option<String>,
}

impl InstanceState {
    /// Counted as part of the fleet: starting or running.
    pub fn is_live(&self) -> bool {
        matches!(self.state.as_str(), "pending" | "running")
    }
}

/// What AWS has of the stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub table: Option<TableState>,
    /// The result store's table of job records.
    pub results_table: Option<TableState>,
    /// The result store's bucket of answer parts (the one `Desired::results_bucket` names).
    pub results_bucket: Option<BucketState>,
    pub request_queue: Option<QueueState>,
    pub dead_letter_queue: Option<QueueState>,
    /// The stack's artifact bucket, if it exists.
    pub bucket: Option<String>,
    /// Whether the artifact to upload is already in the bucket.
    pub artifact_uploaded: bool,
    pub groups: BTreeMap<GroupKind, GroupState>,
    pub templates: BTreeMap<Role, TemplateState>,
    pub instances: Vec<InstanceState>,
    /// The latest Amazon Linux 2023 x86_64 AMI (looked up only when needed).
    pub latest_ami: Option<String>,
}

impl Observed {
    pub fn live(&self, role: Role) -> Vec<&InstanceState> {
        self.instances
            .iter()
            .filter(|i| i.role == role && i.is_live())
            .collect()
    }
}

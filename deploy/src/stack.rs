//! A stack's identity: its name, the roles of its instances, and the names and tags of everything it owns.
//!
//! Every name is derived from the stack name here and nowhere else, so `plan`, `up`, `status`, `scale` and
//! `down` agree on what belongs to a stack, and the IAM policy can name exactly those resources. Stack names
//! are lower-case letters and digits only: with no `-` in a stack name, the prefix `airq-<stack>-` of one
//! stack can never be the prefix of another's names.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Tag key naming the stack a resource belongs to.
pub const TAG_STACK: &str = "airq:stack";
/// Tag key naming an instance's role.
pub const TAG_ROLE: &str = "airq:role";
/// Tag key holding the short checksum of the artifact an instance was launched with.
pub const TAG_ARTIFACT: &str = "airq:artifact";
/// Tag key holding the hash of the launch settings an instance was launched with (see `plan::LaunchSpec`):
/// instances whose tag differs from their template's current hash run an older build or configuration.
pub const TAG_SPEC: &str = "airq:spec";
/// Tag key on gateway instances saying who may use them (`keys:<count>:<fingerprint>` or `open`; see
/// `api_keys::GatewayAccess::tag`), so `status` can tell from the instance descriptions it reads anyway.
pub const TAG_API: &str = "airq:api";
/// The longest stack name: keeps every derived name inside AWS's limits (S3 buckets: 63 characters).
pub const MAX_STACK_NAME: usize = 20;

/// What an instance does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Gateway,
    Master,
    Worker,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Gateway, Role::Master, Role::Worker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Master => "master",
            Role::Worker => "worker",
        }
    }

    /// The binary that runs the role.
    pub fn binary(self) -> &'static str {
        match self {
            Role::Gateway => "airq-gateway",
            Role::Master => "airq-master",
            Role::Worker => "airq-worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; expected gateway, master or worker"))
    }
}

/// The stack's two security groups: the gateways' (the gateway port open to the allowed CIDR) and the one of
/// the master and workers (no inbound at all). Both open SSH only when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKind {
    Gateway,
    Private,
}

impl GroupKind {
    pub const ALL: [GroupKind; 2] = [GroupKind::Gateway, GroupKind::Private];

    /// The group a role's instances are in.
    pub fn of(role: Role) -> GroupKind {
        match role {
            Role::Gateway => GroupKind::Gateway,
            Role::Master | Role::Worker => GroupKind::Private,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Gateway => "gateway",
            GroupKind::Private => "private",
        }
    }
}

/// A validated stack name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StackName(String);

impl FromStr for StackName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let starts_with_letter = s.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if s.is_empty() || s.len() > MAX_STACK_NAME || !ok_chars || !starts_with_letter {
            return Err(format!(
                "invalid stack name {s:?}: use 1 to {MAX_STACK_NAME} lower-case letters and digits, starting with a letter"
            ));
        }
        Ok(StackName(s.to_string()))
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StackName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every queue, template and group of the stack starts with this.
    pub fn prefix(&self) -> String {
        format!("airq-{}-", self.0)
    }

    /// The DynamoDB table of readings.
    pub fn table(&self) -> String {
        format!("airq-{}-readings", self.0)
    }

    /// The DynamoDB table of the result store's job records (the answers' parts are in
    /// [`results_bucket`](Self::results_bucket)).
    pub fn results_table(&self) -> String {
        format!("airq-{}-results", self.0)
    }

    /// The request queue (its dead-letter queue is [`dead_letter_queue`](Self::dead_letter_queue)).
    pub fn request_queue(&self) -> String {
        format!("airq-{}-requests", self.0)
    }

    pub fn dead_letter_queue(&self) -> String {
        airq_common::queue::sqs::dlq_name(&self.request_queue())
    }

    /// Gateways name their reply queues `<prefix>-<uuid>`.
    pub fn reply_queue_prefix(&self) -> String {
        format!("airq-{}-reply", self.0)
    }

    /// A security group of the stack.
    pub fn security_group(&self, kind: GroupKind) -> String {
        format!("airq-{}-{}", self.0, kind.as_str())
    }

    /// The launch template of a role: how `up`, `scale` and `autoscale` launch its instances.
    pub fn launch_template(&self, role: Role) -> String {
        format!("airq-{}-{}", self.0, role)
    }

    /// The `Name` tag of a role's instances.
    pub fn instance_name(&self, role: Role) -> String {
        format!("airq-{}-{}", self.0, role)
    }

    /// Artifact buckets are `airq-<stack>-artifacts-<suffix>` (see [`bucket_suffix`](Self::bucket_suffix)).
    pub fn bucket_prefix(&self) -> String {
        format!("airq-{}-artifacts-", self.0)
    }

    /// Results buckets (answer parts of queued queries) are `airq-<stack>-results-<suffix>`.
    pub fn results_bucket_prefix(&self) -> String {
        format!("airq-{}-results-", self.0)
    }

    /// The last part of the stack's bucket names: 8 hex digits of a hash of the account, region and stack.
    /// Bucket names are global, so the account keeps two accounts' stacks of the same name apart, and the region
    /// one account's stacks of the same name in two regions; the name is the same on every run, so `plan` shows
    /// the bucket `up` then creates and `iam-policy` can name it exactly.
    pub fn bucket_suffix(&self, account: &str, region: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{account}/{region}/{}", self.0).as_bytes());
        crate::plan::hex(&digest)[..8].to_string()
    }

    /// The stack's artifact bucket in this account and region.
    pub fn artifact_bucket(&self, account: &str, region: &str) -> String {
        format!(
            "{}{}",
            self.bucket_prefix(),
            self.bucket_suffix(account, region)
        )
    }

    /// The stack's results bucket in this account and region.
    pub fn results_bucket(&self, account: &str, region: &str) -> String {
        format!(
            "{}{}",
            self.results_bucket_prefix(),
            self.bucket_suffix(account, region)
        )
    }

    /// The result store's URL, as the gateways and workers take it (`--results`, `AIRQ_RESULTS`).
    pub fn results_url(&self, bucket: &str) -> String {
        format!("dynamodb://{}?bucket={bucket}", self.results_table())
    }

    /// The tags every resource of the stack carries (plus a role tag on instances).
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![(TAG_STACK.to_string(), self.0.clone())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_are_validated() {
        assert!("prod".parse::<StackName>().is_ok());
        assert!("eu1".parse::<StackName>().is_ok());
        for bad in ["", "1abc", "Prod", "a-b", "a_b", "abcdefghijklmnopqrstu"] {
            let err = bad.parse::<StackName>().expect_err(bad);
            assert!(err.contains("invalid stack name"), "{err}");
        }
    }

    #[test]
    fn names_of_one_stack_never_share_a_prefix_with_another() {
        let a: StackName = "prod".parse().expect("valid");
        let b: StackName = "prod2".parse().expect("valid");
        for name in [
            b.table(),
            b.results_table(),
            b.results_bucket("123456789012", "eu-west-1"),
            b.request_queue(),
            b.dead_letter_queue(),
            b.reply_queue_prefix(),
            b.security_group(GroupKind::Gateway),
            b.security_group(GroupKind::Private),
            b.launch_template(Role::Worker),
            b.bucket_prefix(),
        ] {
            assert!(!name.starts_with(&a.prefix()), "{name} looks like {a}'s");
            assert!(name.starts_with(&b.prefix()), "{name}");
        }
    }

    #[test]
    fn derived_names_fit_aws_limits() {
        let s: StackName = "a".repeat(MAX_STACK_NAME).parse().expect("valid");
        // Buckets: at most 63 characters.
        assert!(s.artifact_bucket("123456789012", "ap-southeast-2").len() <= 63);
        assert!(s.results_bucket("123456789012", "ap-southeast-2").len() <= 63);
        // Reply queue: prefix + '-' + 32 hex uuid characters, at most 80.
        assert!(s.reply_queue_prefix().len() + 1 + 32 <= 80);
        assert!(s.dead_letter_queue().len() <= 80);
        assert_eq!(s.dead_letter_queue(), format!("{}-dlq", s.request_queue()));
    }

    #[test]
    fn bucket_names_are_stable_and_distinct() {
        let s: StackName = "prod".parse().expect("valid");
        let artifacts = s.artifact_bucket("123456789012", "eu-west-1");
        let results = s.results_bucket("123456789012", "eu-west-1");
        assert!(artifacts.starts_with("airq-prod-artifacts-"), "{artifacts}");
        assert!(results.starts_with("airq-prod-results-"), "{results}");
        assert_eq!(results, s.results_bucket("123456789012", "eu-west-1"));
        assert_ne!(results, s.results_bucket("123456789012", "eu-west-2"));
        assert_ne!(results, s.results_bucket("210987654321", "eu-west-1"));
        assert_eq!(
            s.results_url(&results),
            format!("dynamodb://airq-prod-results?bucket={results}")
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert!(role.binary().ends_with(role.as_str()));
        }
        assert!("db".parse::<Role>().is_err());
    }
}

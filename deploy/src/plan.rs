//! What `up` would do: the difference between the stack an operator asks for ([`Desired`]) and what AWS has
//! ([`Observed`]), as an ordered list of [`Step`]s. A pure function, so `plan` shows exactly what `up` then
//! does, and a second `up` (nothing differs) does nothing.
//!
//! Instances are launched from one launch template per role. A template's description carries a hash of the
//! launch settings it was made from, so a changed setting (artifact, AMI, instance type, role options) becomes a
//! new template version for instances launched from then on; running instances are left alone.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::roles::{self, ArtifactLocation, RoleOptions};
use crate::stack::{GroupKind, Role, StackName};
use crate::userdata::RenderError;

/// The stack as the operator wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub stack: StackName,
    pub region: String,
    pub gateways: u32,
    pub masters: u32,
    /// `up` launches workers up to this many and never terminates workers (`scale`/`autoscale` own that).
    pub min_workers: u32,
    /// CIDR allowed to reach the gateway port.
    pub allow_cidr: String,
    /// CIDR allowed to reach port 22; SSH is closed unless this is set.
    pub ssh_cidr: Option<String>,
    /// Receives before a request moves to the dead-letter queue.
    pub max_receives: u32,
    pub artifact: ArtifactLocation,
    /// A local artifact to upload to the stack's bucket (`artifact.url` is then its `s3://` location).
    pub upload: Option<Upload>,
    pub launch: LaunchSettings,
    pub roles: RoleOptions,
}

/// A local file to put in the stack's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub path: std::path::PathBuf,
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// How instances are launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSettings {
    /// The AMI; `None` = the one the existing template uses, else the latest Amazon Linux 2023.
    pub ami: Option<String>,
    pub instance_type: String,
    pub instance_profile: Option<String>,
    pub key_name: Option<String>,
    pub subnet: Option<String>,
}

/// A security group ingress rule. airq opens TCP ports to IPv4 CIDRs only; the other kinds of source (an IPv6
/// CIDR, another group `sg-…`, a prefix list `pl-…`) are read so that rules added by hand are seen and removed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ingress {
    /// `tcp`, `udp`, `icmp`, or `-1` for all.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    /// An IPv4 or IPv6 CIDR, a security group id, or a prefix list id.
    pub source: String,
}

impl Ingress {
    pub fn tcp(port: u16, source: &str) -> Self {
        Ingress {
            protocol: "tcp".into(),
            from_port: i32::from(port),
            to_port: i32::from(port),
            source: source.to_string(),
        }
    }
}

impl fmt::Display for Ingress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.protocol == "-1" {
            write!(f, "all traffic from {}", self.source)
        } else if self.from_port == self.to_port {
            write!(
                f,
                "{} {} from {}",
                self.protocol, self.from_port, self.source
            )
        } else {
            write!(
                f,
                "{} {}-{} from {}",
                self.protocol, self.from_port, self.to_port, self.source
            )
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    pub active: bool,
    /// DynamoDB is still deleting it (a `down --delete-data` moments ago).
    pub deleting: bool,
    pub tagged: bool,
    pub item_count: Option<i64>,
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

/// The settings one role's launch template is made from; their hash says whether the template is current.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    pub role: Role,
    pub image_id: String,
    pub instance_type: String,
    pub instance_profile: Option<String>,
    pub key_name: Option<String>,
    pub subnet: Option<String>,
    pub user_data: String,
    pub artifact_tag: String,
    /// The security group the role's instances are in, once it exists: a recreated group needs new template
    /// versions.
    pub group_id: Option<String>,
}

/// The layout of the launch templates `airq-deploy` writes (IMDS options, tags…): part of every launch-settings
/// hash, so a change of layout in the code makes new template versions. Bump it with any such change.
pub const TEMPLATE_FORMAT: &str = "2";

impl LaunchSpec {
    /// A short, stable hash of every setting.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            TEMPLATE_FORMAT,
            self.group_id.as_deref().unwrap_or("-"),
            self.role.as_str(),
            &self.image_id,
            &self.instance_type,
            self.instance_profile.as_deref().unwrap_or("-"),
            self.key_name.as_deref().unwrap_or("-"),
            self.subnet.as_deref().unwrap_or("-"),
            &self.user_data,
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        hex(&h.finalize())[..16].to_string()
    }

    /// The template description recording the hash.
    pub fn description(&self) -> String {
        format!("airq spec {}", self.hash())
    }
}

/// Parses the hash back out of a template version's description.
pub fn spec_hash_of(description: &str) -> Option<String> {
    description.strip_prefix("airq spec ").map(str::to_string)
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// One change `up` makes, in the order it makes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateTable {
        name: String,
    },
    TagTable {
        name: String,
    },
    CreateQueue {
        name: String,
        dead_letter: Option<(String, u32)>,
    },
    SetRedrive {
        name: String,
        dead_letter: String,
        max_receives: u32,
    },
    TagQueue {
        name: String,
    },
    CreateBucket {
        name: String,
    },
    UploadArtifact(Upload),
    CreateSecurityGroup {
        kind: GroupKind,
        name: String,
    },
    AuthorizeIngress {
        kind: GroupKind,
        name: String,
        rule: Ingress,
    },
    RevokeIngress {
        kind: GroupKind,
        name: String,
        rule: Ingress,
        rule_id: Option<String>,
    },
    CreateLaunchTemplate(LaunchSpec),
    UpdateLaunchTemplate {
        spec: LaunchSpec,
        reason: String,
    },
    Launch {
        role: Role,
        count: u32,
    },
    Terminate {
        role: Role,
        instance_ids: Vec<String>,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CreateTable { name } => write!(
                f,
                "+ dynamodb table {name} (on-demand; key {}/{}, index {} on {}/{})",
                airq_common::store::dynamodb::PK,
                airq_common::store::dynamodb::SK,
                airq_common::store::dynamodb::COUNTRY_INDEX,
                airq_common::store::dynamodb::CH,
                airq_common::store::dynamodb::SK
            ),
            Step::TagTable { name } => write!(f, "~ dynamodb table {name}: add the stack tag"),
            Step::CreateQueue {
                name,
                dead_letter: Some((dlq, n)),
            } => {
                write!(f, "+ sqs queue {name} (to {dlq} after {n} receives)")
            }
            Step::CreateQueue {
                name,
                dead_letter: None,
            } => write!(f, "+ sqs queue {name}"),
            Step::SetRedrive {
                name,
                dead_letter,
                max_receives,
            } => {
                write!(
                    f,
                    "~ sqs queue {name}: to {dead_letter} after {max_receives} receives"
                )
            }
            Step::TagQueue { name } => write!(f, "~ sqs queue {name}: add the stack tag"),
            Step::CreateBucket { name } => write!(f, "+ s3 bucket {name} (private)"),
            Step::UploadArtifact(u) => write!(
                f,
                "+ s3 object s3://{}/{} ({} bytes, from {})",
                u.bucket,
                u.key,
                u.size,
                u.path.display()
            ),
            Step::CreateSecurityGroup { name, .. } => write!(f, "+ security group {name}"),
            Step::AuthorizeIngress { name, rule, .. } => {
                write!(f, "+ security group {name} rule: allow {rule}")
            }
            Step::RevokeIngress { name, rule, .. } => {
                write!(f, "- security group {name} rule: allow {rule}")
            }
            Step::CreateLaunchTemplate(spec) => write!(
                f,
                "+ launch template for {} ({}, {})",
                spec.role, spec.image_id, spec.instance_type
            ),
            Step::UpdateLaunchTemplate { spec, reason } => write!(
                f,
                "~ launch template for {}: new version ({reason}); running instances keep theirs",
                spec.role
            ),
            Step::Launch { role, count } => write!(f, "+ {count} {role} instance(s)"),
            Step::Terminate { role, instance_ids } => {
                write!(
                    f,
                    "- terminate {role} instance(s) {}",
                    instance_ids.join(", ")
                )
            }
        }
    }
}

/// The steps, plus what stays as it is and what the operator should know.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            writeln!(f, "no changes: the stack is as asked")?;
        }
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

/// The launch settings of each role, from what is wanted and what exists.
pub fn launch_specs(desired: &Desired, observed: &Observed) -> Result<Vec<LaunchSpec>, PlanError> {
    let mut specs = Vec::new();
    for role in Role::ALL {
        let image_id = desired
            .launch
            .ami
            .clone()
            .or_else(|| {
                observed
                    .templates
                    .get(&role)
                    .and_then(|t| t.image_id.clone())
            })
            .or_else(|| observed.latest_ami.clone())
            .ok_or(PlanError::NoAmi)?;
        let user_data = roles::bootstrap(
            &desired.stack,
            &desired.region,
            role,
            &desired.roles,
            &desired.artifact,
        )
        .render()?;
        specs.push(LaunchSpec {
            role,
            image_id,
            instance_type: desired.launch.instance_type.clone(),
            instance_profile: desired.launch.instance_profile.clone(),
            key_name: desired.launch.key_name.clone(),
            subnet: desired.launch.subnet.clone(),
            user_data,
            artifact_tag: artifact_tag(&desired.artifact),
            group_id: observed
                .groups
                .get(&GroupKind::of(role))
                .map(|g| g.id.clone()),
        });
    }
    Ok(specs)
}

/// The short label of an artifact that instances are tagged with.
pub fn artifact_tag(artifact: &ArtifactLocation) -> String {
    match &artifact.sha256 {
        Some(sha) => sha.chars().take(16).collect(),
        None => {
            let digest = Sha256::digest(artifact.url.as_bytes());
            format!("url-{}", &hex(&digest)[..12])
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("no Amazon Linux 2023 x86_64 AMI was found in this region; pass one with --ami")]
    NoAmi,
    #[error("instance user data: {0}")]
    UserData(#[from] RenderError),
    #[error(
        "{0} is still being deleted (by an earlier down); run the command again once it is gone"
    )]
    StillDeleting(String),
}

/// Computes the plan. `new_bucket` is the name to create when the stack has no bucket yet and one is needed.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let stack = &desired.stack;
    let steps = &mut plan.steps;
    let notes = &mut plan.notes;

    // Table.
    let table = stack.table();
    match &observed.table {
        Some(t) if t.deleting => {
            return Err(PlanError::StillDeleting(format!("the table {table}")))
        }
        None => steps.push(Step::CreateTable {
            name: table.clone(),
        }),
        Some(t) if !t.tagged => steps.push(Step::TagTable {
            name: table.clone(),
        }),
        Some(_) => {}
    }

    // Queues: the dead-letter queue first, so the request queue's redrive can name it.
    let (request, dlq) = (stack.request_queue(), stack.dead_letter_queue());
    match &observed.dead_letter_queue {
        None => steps.push(Step::CreateQueue {
            name: dlq.clone(),
            dead_letter: None,
        }),
        Some(q) if !q.tagged => steps.push(Step::TagQueue { name: dlq.clone() }),
        Some(_) => {}
    }
    match &observed.request_queue {
        None => steps.push(Step::CreateQueue {
            name: request.clone(),
            dead_letter: Some((dlq.clone(), desired.max_receives)),
        }),
        Some(q) => {
            if q.max_receives != Some(desired.max_receives) {
                steps.push(Step::SetRedrive {
                    name: request.clone(),
                    dead_letter: dlq.clone(),
                    max_receives: desired.max_receives,
                });
            }
            if !q.tagged {
                steps.push(Step::TagQueue {
                    name: request.clone(),
                });
            }
        }
    }

    // Artifact.
    if let Some(upload) = &desired.upload {
        if observed.bucket.is_none() {
            steps.push(Step::CreateBucket {
                name: upload.bucket.clone(),
            });
        }
        if !observed.artifact_uploaded {
            steps.push(Step::UploadArtifact(upload.clone()));
        }
    }

    // Security groups: the gateways' opens exactly the gateway port to the allowed CIDR; the master's and
    // workers' opens nothing; both open SSH only when asked.
    for kind in GroupKind::ALL {
        let name = stack.security_group(kind);
        let mut wanted_rules = Vec::new();
        if kind == GroupKind::Gateway {
            wanted_rules.push(Ingress::tcp(desired.roles.port, &desired.allow_cidr));
        }
        if let Some(cidr) = &desired.ssh_cidr {
            wanted_rules.push(Ingress::tcp(22, cidr));
        }
        let existing_rules = match observed.groups.get(&kind) {
            None => {
                steps.push(Step::CreateSecurityGroup {
                    kind,
                    name: name.clone(),
                });
                Vec::new()
            }
            Some(g) => g.ingress.clone(),
        };
        for rule in &wanted_rules {
            if !existing_rules.contains(rule) {
                steps.push(Step::AuthorizeIngress {
                    kind,
                    name: name.clone(),
                    rule: rule.clone(),
                });
            }
        }
        for rule in &existing_rules {
            if !wanted_rules.contains(rule) {
                steps.push(Step::RevokeIngress {
                    kind,
                    name: name.clone(),
                    rule: rule.clone(),
                    rule_id: observed
                        .groups
                        .get(&kind)
                        .and_then(|g| g.rule_ids.get(rule).cloned()),
                });
            }
        }
    }

    // Launch templates.
    for spec in launch_specs(desired, observed)? {
        match observed.templates.get(&spec.role) {
            None => steps.push(Step::CreateLaunchTemplate(spec)),
            Some(t) if t.spec_hash.as_deref() != Some(spec.hash().as_str()) => {
                let reason = if t.image_id.as_deref() != Some(spec.image_id.as_str()) {
                    format!(
                        "AMI {} -> {}",
                        t.image_id.as_deref().unwrap_or("?"),
                        spec.image_id
                    )
                } else {
                    "launch settings changed".to_string()
                };
                steps.push(Step::UpdateLaunchTemplate { spec, reason });
            }
            Some(_) => {}
        }
    }
    if desired.launch.ami.is_none() {
        if let (Some(latest), Some(t)) =
            (&observed.latest_ami, observed.templates.get(&Role::Worker))
        {
            if t.image_id.as_deref() != Some(latest.as_str()) {
                notes.push(format!(
                    "a newer Amazon Linux 2023 AMI is available ({latest}); pass --ami {latest} to use it"
                ));
            }
        }
    }
    if desired.launch.instance_profile.is_none() {
        notes.push(
            "no --instance-profile: instances will have no AWS credentials and cannot reach DynamoDB or SQS"
                .to_string(),
        );
    }

    // Instances: gateways and the master exactly; workers at least.
    for (role, wanted, exact) in [
        (Role::Gateway, desired.gateways, true),
        (Role::Master, desired.masters, true),
        (Role::Worker, desired.min_workers, false),
    ] {
        let mut live = observed.live(role);
        let have = live.len() as u32;
        if have < wanted {
            steps.push(Step::Launch {
                role,
                count: wanted - have,
            });
        } else if have > wanted && exact {
            // Newest first, as `scale` does.
            live.sort_by_key(|i| std::cmp::Reverse((i.launched, i.id.clone())));
            let instance_ids = live
                .iter()
                .take((have - wanted) as usize)
                .map(|i| i.id.clone())
                .collect();
            steps.push(Step::Terminate { role, instance_ids });
        } else if have > wanted {
            notes.push(format!(
                "{have} workers run (at least {wanted} asked); `scale` and `autoscale` manage the worker count"
            ));
        }
        let stopped = observed
            .instances
            .iter()
            .filter(|i| i.role == role && matches!(i.state.as_str(), "stopped" | "stopping"))
            .count();
        if stopped > 0 {
            notes.push(format!(
                "{stopped} stopped {role} instance(s) are not counted; start or terminate them"
            ));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;

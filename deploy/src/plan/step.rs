//! The plan's vocabulary: each change `up` can make, and how `plan` and `up` print it, apart from the diff that
//! decides which changes are needed.

use std::fmt;

use super::{Ingress, LaunchSpec, Upload};
use crate::stack::{GroupKind, Role};

/// One change `up` makes, in the order it makes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateTable {
        name: String,
    },
    TagTable {
        name: String,
    },
    CreateResultsTable {
        name: String,
    },
    EnableResultsTtl {
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
    CreateResultsBucket {
        name: String,
    },
    /// Makes an existing results bucket what it should be; `missing` says what it lacks.
    ConfigureResultsBucket {
        name: String,
        missing: Vec<&'static str>,
    },
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
            Step::CreateResultsTable { name } => write!(
                f,
                "+ dynamodb table {name} (on-demand; key id; job records of queued queries, forgotten by TTL)"
            ),
            Step::EnableResultsTtl { name } => write!(
                f,
                "~ dynamodb table {name}: turn on its TTL (job records are forgotten by it)"
            ),
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
            Step::CreateResultsBucket { name } => write!(
                f,
                "+ s3 bucket {name} (private; answer parts under {} expire after {} days)",
                airq_common::results::aws::PARTS_PREFIX,
                airq_common::results::aws::PART_LIFETIME_DAYS
            ),
            Step::ConfigureResultsBucket { name, missing } => {
                write!(f, "~ s3 bucket {name}: {}", missing.join(", "))
            }
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

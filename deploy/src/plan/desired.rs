//! What the operator asks for: the stack's shape, its artifact and launch settings, and the ingress rules that
//! the planner compares with what the security groups have.

use std::fmt;

use crate::roles::{ArtifactLocation, RoleOptions};
use crate::stack::StackName;

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
    /// CIDR allowed to reach every role's metrics port (`--metrics-cidr`); closed unless this is set.
    pub metrics_cidr: Option<String>,
    /// Receives before a request moves to the dead-letter queue.
    pub max_receives: u32,
    pub artifact: ArtifactLocation,
    /// A local artifact to upload to the stack's bucket (`artifact.url` is then its `s3://` location).
    pub upload: Option<Upload>,
    /// The result store's bucket: its name depends on the account, so it is looked up before planning.
    pub results_bucket: String,
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

//! The settings each role's launch template is made from, and the hash of them recorded in the template, which
//! is how the planner tells a current template from one that needs a new version.

use sha2::{Digest, Sha256};

use super::{Desired, Observed, PlanError};
use crate::roles::{self, ArtifactLocation};
use crate::stack::{GroupKind, Role};

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
    /// Gateways: the `airq:api` tag saying who may use them. Not hashed on its own: it is a function of the
    /// gateway's user data (its keys file and flag), which is.
    pub api_tag: Option<String>,
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
            &desired.results_bucket,
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
            api_tag: (role == Role::Gateway).then(|| desired.roles.api.tag()),
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

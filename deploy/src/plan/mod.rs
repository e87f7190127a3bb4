//! What `up` would do: the difference between the stack an operator asks for ([`Desired`]) and what AWS has
//! ([`Observed`]), as an ordered list of [`Step`]s. A pure function, so `plan` shows exactly what `up` then
//! does, and a second `up` (nothing differs) does nothing.
//!
//! Instances are launched from one launch template per role. A template's description carries a hash of the
//! launch settings it was made from, so a changed setting (artifact, AMI, instance type, role options) becomes a
//! new template version for instances launched from then on; running instances are left alone.
//!
//! Layout: `desired` and `observed` hold the two inputs, `launch` the launch settings and their hash, `step` the
//! output, and `diff` the comparison itself, one function per kind of resource. Everything is re-exported here.

use crate::userdata::RenderError;

mod desired;
mod diff;
mod launch;
mod observed;
mod step;

pub use desired::{Desired, Ingress, LaunchSettings, Upload};
pub use diff::plan;
pub use launch::{artifact_tag, hex, launch_specs, spec_hash_of, LaunchSpec, TEMPLATE_FORMAT};
pub use observed::{
    BucketState, GroupState, InstanceState, Observed, QueueState, TableState, TemplateState,
};
pub use step::{Plan, Step};

/// Why no plan could be made.
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

#[cfg(test)]
mod tests;

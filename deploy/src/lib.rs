//! airq-deploy: provisions, scales and tears down airq on AWS, or runs its workers on this machine.
//!
//! Layout:
//! - [`stack`]: a stack's name, roles, and the names and tags of everything it owns.
//! - [`plan`]: the difference between the stack asked for and what exists, as ordered steps (pure).
//! - [`api_keys`]: who may use the gateways (`--api-keys FILE` or `--no-api-keys`), as instances get it.
//! - [`package`]: what a local `--artifact` must be (a package made by `scripts/package`).
//! - [`roles`], [`userdata`]: how each role runs on an instance; the user data rendered from the template.
//! - [`iam`]: the least-privilege policies (instance role, trust, operator).
//! - [`autoscale`]: the backlog-per-worker scaling policy (pure); [`fleet`]: `scale` and the autoscale loop
//!   over any fleet.
//! - [`aws`]: the AWS provider (observe, apply, status, scale, down); [`local`]: worker processes here, laid out
//!   like `aws` (`fleet`, `status`).
//! - [`error`]: errors that name the resource and the permission or limit.

pub mod api_keys;
pub mod autoscale;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod error;
pub mod fleet;
pub mod iam;
pub mod local;
pub mod package;
pub mod plan;
pub mod roles;
pub mod stack;
pub mod status;
pub mod userdata;

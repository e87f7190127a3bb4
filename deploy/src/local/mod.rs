//! `--provider local`: the worker fleet as `airq-worker` processes on this machine, against the embedded
//! backends (or any store and queue URL), so an operator can watch scaling on a laptop and tests can drive it.
//!
//! Each worker is a detached process (its own process group, so a Ctrl-C of the command that started it does not
//! reach it) recorded in `<state-dir>/workers/<pid>.json` with its start time from `/proc`, so a later command
//! (`status`, `scale`, another `autoscale`) finds the same workers and a reused pid is never mistaken for one.
//! Stopping a worker sends SIGTERM: it stops taking jobs, finishes those in hand, and exits; until then it is
//! listed as `stopping`. Linux only (it reads `/proc`).
//!
//! Laid out like [`crate::aws`]: [`fleet`] is the [`crate::fleet::Fleet`] of workers, [`status`] what `status`
//! reports, and `process` starts, finds and stops the processes (as `aws::ec2::instances` does instances).

use std::path::PathBuf;

use crate::error::DeployError;

pub mod fleet;
mod process;
pub mod status;

pub use fleet::LocalFleet;

/// What a local fleet runs.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Where worker records and logs are kept.
    pub state_dir: PathBuf,
    /// The `airq-worker` binary.
    pub worker_bin: PathBuf,
    pub store: String,
    pub queue: String,
    /// Each worker's `--concurrency`.
    pub concurrency: u32,
    /// Extra arguments for every worker.
    pub worker_args: Vec<String>,
}

/// The `airq-worker` next to this executable (how release archives and `cargo build` lay binaries out).
pub fn default_worker_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("airq-worker")))
        .unwrap_or_else(|| PathBuf::from("airq-worker"))
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeployError {
    let what = what.into();
    move |source| DeployError::Io { what, source }
}

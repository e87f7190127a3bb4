//! The commands of `--provider local` (status, scale, autoscale), and the local fleet they run on, set up from
//! the command line.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;

use super::{print_status, scale};
use crate::cli::{Command, LocalArgs};
use crate::error::DeployError;
use crate::local::{self, LocalFleet, LocalOptions};
use crate::stack::StackName;

/// Runs one command on the local provider.
pub(super) async fn run(
    stack: &StackName,
    args: &LocalArgs,
    command: Command,
    json_out: bool,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    match command {
        Command::Status => status(stack, args, json_out, out).await,
        Command::Scale { workers, wait } => {
            let fleet = fleet(stack, args).await?;
            scale::scale(&fleet, workers, json_out, out).await?;
            let still = fleet.wait_stopped(wait).await?;
            if still > 0 {
                say!(out, "{still} worker(s) still draining; `status` shows when they are gone")?;
            }
            Ok(())
        }
        Command::Autoscale(autoscale) => {
            let fleet = fleet(stack, args).await?;
            scale::autoscale(&fleet, &autoscale, json_out, out, shutdown).await
        }
        _ => Err(DeployError::Invalid(
            "--provider local runs workers on this machine and supports status, scale and autoscale only".into(),
        )),
    }
}

/// The fleet's options from the command line (state under `data/stacks/<stack>` unless given).
fn options(stack: &StackName, args: &LocalArgs) -> LocalOptions {
    LocalOptions {
        state_dir: args
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("data/stacks").join(stack.as_str())),
        worker_bin: args
            .worker_bin
            .clone()
            .unwrap_or_else(local::default_worker_bin),
        store: args.store.clone(),
        queue: args.queue.clone(),
        concurrency: args.local_concurrency,
        worker_args: Vec::new(),
    }
}

/// The fleet to scale: its worker binary must exist.
async fn fleet(stack: &StackName, args: &LocalArgs) -> Result<LocalFleet, DeployError> {
    let options = options(stack, args);
    if !options.worker_bin.exists() {
        return Err(DeployError::Invalid(format!(
            "the worker binary {} does not exist; build it (cargo build --release -p airq-worker) or pass --worker-bin",
            options.worker_bin.display()
        )));
    }
    LocalFleet::open(options).await
}

/// `status`: the worker processes, the queue's depth and the store's size.
async fn status(
    stack: &StackName,
    args: &LocalArgs,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let fleet = LocalFleet::open(options(stack, args)).await?;
    let status = local::status::status(stack, &fleet).await?;
    print_status(&status, json_out, out)
}

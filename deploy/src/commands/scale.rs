//! `scale` and `autoscale`, for either provider: both are written once against [`Fleet`]; this file turns the
//! command line into a policy and the outcomes into the report.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use serde_json::json;

use super::write_err;
use crate::autoscale::{Action, Policy};
use crate::cli::AutoscaleArgs;
use crate::error::DeployError;
use crate::fleet::{self, Fleet, LoopOptions, Tick};

/// `scale`: launches or stops workers to reach `workers`, and reports who.
pub(super) async fn scale(
    fleet: &dyn Fleet,
    workers: u32,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let outcome = fleet::scale(fleet, workers).await?;
    if json_out {
        say!(
            out,
            "{}",
            serde_json::to_string(&outcome).unwrap_or_default()
        )
    } else {
        say!(
            out,
            "workers: {} -> {} (launched {}, terminating {})",
            outcome.before,
            outcome.after,
            if outcome.launched.is_empty() {
                "none".into()
            } else {
                outcome.launched.join(", ")
            },
            if outcome.terminated.is_empty() {
                "none".into()
            } else {
                outcome.terminated.join(", ")
            }
        )
    }
}

/// The autoscaling policy from the command line.
pub fn policy(args: &AutoscaleArgs) -> Result<Policy, DeployError> {
    let target = match args.target_backlog {
        Some(t) => t,
        None => Policy::target_from(args.acceptable_latency, args.mean_job_time)
            .map_err(|e| DeployError::Invalid(e.to_string()))?,
    };
    let policy = Policy {
        min: args.min,
        max: args.max,
        target_backlog_per_worker: target,
        max_step: args.max_step,
        scale_out_cooldown: args.scale_out_cooldown,
        scale_in_cooldown: args.cooldown,
    };
    policy
        .validate()
        .map_err(|e| DeployError::Invalid(e.to_string()))?;
    Ok(policy)
}

/// `autoscale`: runs the loop until `shutdown` (or `--duration`), printing one line per decision.
pub(super) async fn autoscale(
    fleet: &dyn Fleet,
    args: &AutoscaleArgs,
    json_out: bool,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    let options = LoopOptions {
        policy: policy(args)?,
        interval: args.interval,
        dry_run: args.dry_run,
    };
    if !json_out {
        say!(
            out,
            "autoscaling {} between {} and {} workers, target backlog {:.1} per worker{}",
            fleet.describe(),
            options.policy.min,
            options.policy.max,
            options.policy.target_backlog_per_worker,
            if options.dry_run {
                " (dry run: nothing is changed)"
            } else {
                ""
            }
        )?;
    }
    let mut write_failed = None;
    fleet::autoscale_loop(
        fleet,
        &options,
        until(shutdown, args.duration),
        |tick: Result<&Tick, &DeployError>| {
            let line = tick_line(tick, json_out);
            if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                write_failed.get_or_insert(e);
            }
        },
    )
    .await?;
    match write_failed {
        Some(e) => Err(write_err(e)),
        None => Ok(()),
    }
}

/// Completes when `shutdown` does, or once `limit` (`--duration`) has passed.
async fn until(shutdown: impl Future<Output = ()>, limit: Option<Duration>) {
    match limit {
        Some(d) => {
            tokio::select! {
                _ = shutdown => {},
                _ = tokio::time::sleep(d) => {},
            }
        }
        None => shutdown.await,
    }
}

/// The report line of one tick of the loop (or of its error).
fn tick_line(tick: Result<&Tick, &DeployError>, json_out: bool) -> String {
    match tick {
        Ok(t) if json_out => serde_json::to_string(t).unwrap_or_default(),
        Ok(t) => format!(
            "[{:>7.1}s] {:?} -> {} workers: {}{}",
            t.at_secs,
            t.decision.action,
            t.decision.desired,
            t.decision.reason,
            if t.dry_run && t.decision.action != Action::Hold {
                " (dry run)"
            } else {
                ""
            }
        ),
        Err(e) if json_out => json!({ "error": e.to_string() }).to_string(),
        Err(e) => format!("error (retrying at the next tick): {e}"),
    }
}

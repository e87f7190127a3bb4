//! The worker fleet, whatever runs it: EC2 instances ([`crate::aws::fleet`]) or processes on this machine
//! ([`crate::local`]). `scale` and `autoscale` are written once against this trait.

use std::future::Future;
use std::time::Duration;

use airq_common::queue::QueueDepth;
use async_trait::async_trait;
use serde::Serialize;

use crate::autoscale::{self, Action, Decision, History, Observation, Policy};
use crate::error::DeployError;

/// One worker of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Instance id, or `pid-<n>` for a local process.
    pub id: String,
    /// Milliseconds since the epoch at launch: orders "newest first".
    pub launched_ms: i64,
    /// pending, running, stopping.
    pub state: String,
}

#[async_trait]
pub trait Fleet: Send + Sync {
    /// Workers starting or running (not those already told to stop).
    async fn workers(&self) -> Result<Vec<Member>, DeployError>;
    /// Starts `count` workers; returns their ids.
    async fn launch(&self, count: u32) -> Result<Vec<String>, DeployError>;
    /// Tells these workers to stop. They finish the jobs in hand first (SIGTERM), so no job is lost.
    async fn terminate(&self, ids: &[String]) -> Result<(), DeployError>;
    /// The request queue's backlog.
    async fn depth(&self) -> Result<QueueDepth, DeployError>;
    fn describe(&self) -> String;
}

/// What a scaling step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScaleOutcome {
    pub before: u32,
    pub after: u32,
    pub launched: Vec<String>,
    pub terminated: Vec<String>,
}

/// Launches or terminates workers to reach `target`. Terminates the newest first: the oldest have warm caches
/// and connections, and on EC2 the newest are the least likely to have a full billing hour behind them.
pub async fn scale(fleet: &dyn Fleet, target: u32) -> Result<ScaleOutcome, DeployError> {
    let mut workers = fleet.workers().await?;
    let before = workers.len() as u32;
    let mut outcome = ScaleOutcome {
        before,
        after: target,
        ..ScaleOutcome::default()
    };
    if before < target {
        outcome.launched = fleet.launch(target - before).await?;
    } else if before > target {
        workers.sort_by(|a, b| (b.launched_ms, &b.id).cmp(&(a.launched_ms, &a.id)));
        let ids: Vec<String> = workers
            .iter()
            .take((before - target) as usize)
            .map(|m| m.id.clone())
            .collect();
        fleet.terminate(&ids).await?;
        outcome.terminated = ids;
    }
    Ok(outcome)
}

/// How the autoscale loop runs.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub policy: Policy,
    /// Time between decisions.
    pub interval: Duration,
    /// Print decisions without acting on them.
    pub dry_run: bool,
}

/// One tick of the loop, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub at_secs: f64,
    pub decision: Decision,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ScaleOutcome>,
}

/// Runs the autoscaling loop until `shutdown` completes, calling `report` with every decision. A failed
/// observation or scaling call is reported and retried at the next tick; the loop itself does not stop on it.
pub async fn autoscale_loop(
    fleet: &dyn Fleet,
    options: &LoopOptions,
    shutdown: impl Future<Output = ()>,
    mut report: impl FnMut(Result<&Tick, &DeployError>),
) -> Result<(), DeployError> {
    options
        .policy
        .validate()
        .map_err(|e| DeployError::Invalid(e.to_string()))?;
    let start = tokio::time::Instant::now();
    let mut history = History::default();
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = ticker.tick() => {}
        }
        let step = async {
            let depth = fleet.depth().await?;
            let workers = fleet.workers().await?;
            let observation = Observation {
                visible: depth.visible,
                in_flight: depth.in_flight,
                workers: workers.len() as u32,
            };
            let now = start.elapsed();
            let (decision, next) = autoscale::decide(&options.policy, history, observation, now);
            let outcome = if decision.action != Action::Hold && !options.dry_run {
                Some(scale(fleet, decision.desired).await?)
            } else {
                None
            };
            // In a dry run nothing changed, so the history is not advanced past a change that never happened.
            if !options.dry_run || decision.action == Action::Hold {
                history = next;
            }
            Ok::<_, DeployError>(Tick {
                at_secs: now.as_secs_f64(),
                decision,
                dry_run: options.dry_run,
                outcome,
            })
        };
        let result = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            r = step => r,
        };
        report(result.as_ref());
    }
}

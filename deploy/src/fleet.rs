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
    /// Launched with settings (build, AMI, instance type…) that are no longer current.
    pub stale: bool,
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

/// Launches or terminates workers to reach `target`. Terminates those running outdated settings first (so
/// scaling in rolls a fleet forward to the current build), then the newest: the oldest have warm caches and
/// connections.
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
        workers
            .sort_by(|a, b| (b.stale, b.launched_ms, &b.id).cmp(&(a.stale, a.launched_ms, &a.id)));
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A fleet in memory: `scale`'s choice of whom to stop is plain logic, tested here on its own.
    struct Memory(Mutex<Vec<Member>>);

    #[async_trait]
    impl Fleet for Memory {
        async fn workers(&self) -> Result<Vec<Member>, DeployError> {
            Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
        }
        async fn launch(&self, count: u32) -> Result<Vec<String>, DeployError> {
            let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let ids: Vec<String> = (0..count).map(|i| format!("new{i}")).collect();
            for id in &ids {
                all.push(Member {
                    id: id.clone(),
                    launched_ms: 1_000,
                    state: "pending".into(),
                    stale: false,
                });
            }
            Ok(ids)
        }
        async fn terminate(&self, ids: &[String]) -> Result<(), DeployError> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|m| !ids.contains(&m.id));
            Ok(())
        }
        async fn depth(&self) -> Result<QueueDepth, DeployError> {
            Ok(QueueDepth::default())
        }
        fn describe(&self) -> String {
            "memory".into()
        }
    }

    fn member(id: &str, launched_ms: i64, stale: bool) -> Member {
        Member {
            id: id.into(),
            launched_ms,
            state: "running".into(),
            stale,
        }
    }

    #[tokio::test]
    async fn scale_in_stops_outdated_workers_first_then_the_newest() {
        let fleet = Memory(Mutex::new(vec![
            member("old-a", 10, true),
            member("cur-a", 20, false),
            member("old-b", 30, true),
            member("cur-b", 40, false),
            member("cur-c", 50, false),
        ]));
        let out = scale(&fleet, 2).await.expect("scale");
        assert_eq!(out.terminated, ["old-b", "old-a", "cur-c"]);
        assert_eq!((out.before, out.after), (5, 2));
        let left: Vec<String> = fleet
            .workers()
            .await
            .expect("workers")
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(left, ["cur-a", "cur-b"]);
    }

    #[tokio::test]
    async fn scale_out_launches_the_difference_and_equal_is_a_no_op() {
        let fleet = Memory(Mutex::new(vec![member("a", 1, false)]));
        let out = scale(&fleet, 3).await.expect("scale");
        assert_eq!(out.launched.len(), 2);
        let out = scale(&fleet, 3).await.expect("scale");
        assert!(out.launched.is_empty() && out.terminated.is_empty());
    }
}

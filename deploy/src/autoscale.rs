//! The autoscaling policy: how many workers a backlog calls for. A pure function of what was observed, so every
//! rule below has a test and `autoscale --dry-run` prints exactly what the loop would do.
//!
//! It follows AWS's recommendation for scaling on an SQS queue ("Scaling policy based on Amazon SQS", EC2 Auto
//! Scaling user guide): the metric is the backlog per instance, `(visible + in-flight messages) / running
//! workers`, and the target is `acceptable latency / mean time a worker spends per message`. The wanted worker
//! count is then `ceil(backlog / target)`, clamped to `[min, max]`.
//!
//! Around that, the habits of AWS target tracking and the Kubernetes autoscaler, which keep a fleet from
//! flapping:
//! - Scaling out is quick, but waits `scale_out_cooldown` after any change, so that workers just launched get
//!   to start taking jobs before more are added.
//! - Scaling in waits until the backlog has called for fewer workers for a whole `scale_in_cooldown` (a
//!   stabilisation window), so a queue that empties between two bursts does not lose its workers.
//! - One decision changes the count by at most `max_step` (a bad reading can do bounded harm).
//! - Running outside `[min, max]` is corrected at once, ignoring cooldowns and the step cap.
//!
//! In-flight messages count as backlog, so workers are never scaled in below what the jobs in hand need; and a
//! worker told to stop drains (finishes its jobs in hand) before it exits, so scaling in loses no job.

use std::time::Duration;

use serde::Serialize;

/// The policy's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub min: u32,
    pub max: u32,
    /// Messages one worker may have waiting before another is wanted (acceptable latency / mean job time).
    pub target_backlog_per_worker: f64,
    /// Workers added or removed by one decision at most (at least 1).
    pub max_step: u32,
    pub scale_out_cooldown: Duration,
    pub scale_in_cooldown: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error("--min ({min}) is above --max ({max})")]
    MinAboveMax { min: u32, max: u32 },
    #[error("the target backlog per worker must be a positive number (got {0})")]
    BadTarget(f64),
    #[error("--max-step must be at least 1")]
    ZeroStep,
    #[error("--mean-job-time must be above zero")]
    ZeroJobTime,
}

impl Policy {
    /// The target backlog per worker as AWS defines it: how many messages one worker clears within the
    /// acceptable latency.
    pub fn target_from(
        acceptable_latency: Duration,
        mean_job_time: Duration,
    ) -> Result<f64, PolicyError> {
        if mean_job_time.is_zero() {
            return Err(PolicyError::ZeroJobTime);
        }
        Ok(acceptable_latency.as_secs_f64() / mean_job_time.as_secs_f64())
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.min > self.max {
            return Err(PolicyError::MinAboveMax {
                min: self.min,
                max: self.max,
            });
        }
        if !(self.target_backlog_per_worker.is_finite() && self.target_backlog_per_worker > 0.0) {
            return Err(PolicyError::BadTarget(self.target_backlog_per_worker));
        }
        if self.max_step == 0 {
            return Err(PolicyError::ZeroStep);
        }
        Ok(())
    }
}

/// One observation of the queue and the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub visible: u64,
    pub in_flight: u64,
    /// Workers running or starting (not those already told to stop).
    pub workers: u32,
}

impl Observation {
    pub fn backlog(&self) -> u64 {
        self.visible + self.in_flight
    }
}

/// What the policy remembers between decisions. Times are offsets from an arbitrary origin (the loop's start),
/// which keeps the policy free of clocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// When the count last changed.
    pub last_change: Option<Duration>,
    /// Since when the backlog has called for fewer workers than run, without a break.
    pub fewer_wanted_since: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Hold,
    ScaleOut,
    ScaleIn,
}

/// A decision, with the figures behind it (printed by `--dry-run` and logged by the loop).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub action: Action,
    /// The worker count to reach now.
    pub desired: u32,
    /// What the backlog alone calls for, within `[min, max]`.
    pub wanted: u32,
    pub observation: Observation,
    /// Backlog per running worker (`None` with no workers).
    pub backlog_per_worker: Option<f64>,
    pub reason: String,
}

/// Decides the worker count at time `now`, and returns the history to pass to the next call.
pub fn decide(
    policy: &Policy,
    history: History,
    obs: Observation,
    now: Duration,
) -> (Decision, History) {
    let running = obs.workers;
    let backlog = obs.backlog();
    let target = policy.target_backlog_per_worker;
    let raw = (backlog as f64 / target).ceil();
    let wanted = if raw >= f64::from(policy.max) {
        policy.max
    } else {
        (raw as u32).max(policy.min)
    };
    let backlog_per_worker = (running > 0).then(|| backlog as f64 / f64::from(running));
    let since = |t: Option<Duration>| t.map(|t| now.saturating_sub(t));

    let mut next = history;
    next.fewer_wanted_since = if wanted < running {
        history.fewer_wanted_since.or(Some(now))
    } else {
        None
    };

    let decision = |action, desired: u32, reason: String| Decision {
        action,
        desired,
        wanted,
        observation: obs,
        backlog_per_worker,
        reason,
    };
    let figures = format!(
        "backlog {backlog} (target {target:.1} per worker) wants {wanted}, {running} running"
    );

    let (d, changed) = if running < policy.min {
        (
            decision(
                Action::ScaleOut,
                policy.min,
                format!("{running} running is below --min {}", policy.min),
            ),
            true,
        )
    } else if running > policy.max {
        (
            decision(
                Action::ScaleIn,
                policy.max,
                format!("{running} running is above --max {}", policy.max),
            ),
            true,
        )
    } else if wanted > running {
        match since(history.last_change) {
            Some(elapsed) if elapsed < policy.scale_out_cooldown => (
                decision(
                    Action::Hold,
                    running,
                    format!(
                        "{figures}; scale-out cooldown: {}s of {}s since the last change",
                        elapsed.as_secs(),
                        policy.scale_out_cooldown.as_secs()
                    ),
                ),
                false,
            ),
            _ => {
                let desired = wanted.min(running.saturating_add(policy.max_step));
                let capped = if desired < wanted {
                    format!(" (step capped at {})", policy.max_step)
                } else {
                    String::new()
                };
                (
                    decision(Action::ScaleOut, desired, format!("{figures}{capped}")),
                    true,
                )
            }
        }
    } else if wanted < running {
        let low_for = since(next.fewer_wanted_since).unwrap_or_default();
        let since_change = since(history.last_change).unwrap_or(Duration::MAX);
        let waited = low_for.min(since_change);
        if waited < policy.scale_in_cooldown {
            (
                decision(
                    Action::Hold,
                    running,
                    format!(
                        "{figures}; scale-in cooldown: {}s of {}s",
                        waited.as_secs(),
                        policy.scale_in_cooldown.as_secs()
                    ),
                ),
                false,
            )
        } else {
            let desired = wanted.max(running.saturating_sub(policy.max_step));
            let capped = if desired > wanted {
                format!(" (step capped at {})", policy.max_step)
            } else {
                String::new()
            };
            (
                decision(Action::ScaleIn, desired, format!("{figures}{capped}")),
                true,
            )
        }
    } else {
        (decision(Action::Hold, running, figures), false)
    };
    if changed {
        next.last_change = Some(now);
        next.fewer_wanted_since = None;
    }
    (d, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            min: 0,
            max: 10,
            target_backlog_per_worker: 100.0,
            max_step: 3,
            scale_out_cooldown: Duration::from_secs(60),
            scale_in_cooldown: Duration::from_secs(300),
        }
    }

    fn obs(visible: u64, in_flight: u64, workers: u32) -> Observation {
        Observation {
            visible,
            in_flight,
            workers,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn target_is_latency_over_job_time() {
        assert_eq!(
            Policy::target_from(secs(30), Duration::from_millis(250)),
            Ok(120.0)
        );
        assert_eq!(
            Policy::target_from(secs(30), Duration::ZERO),
            Err(PolicyError::ZeroJobTime)
        );
    }

    #[test]
    fn invalid_policies_are_refused() {
        let mut p = policy();
        p.min = 11;
        assert_eq!(
            p.validate(),
            Err(PolicyError::MinAboveMax { min: 11, max: 10 })
        );
        let mut p = policy();
        p.target_backlog_per_worker = 0.0;
        assert!(p.validate().is_err());
        let mut p = policy();
        p.max_step = 0;
        assert_eq!(p.validate(), Err(PolicyError::ZeroStep));
        assert_eq!(policy().validate(), Ok(()));
    }

    #[test]
    fn wanted_is_backlog_over_target_rounded_up() {
        let p = Policy {
            max_step: 100,
            ..policy()
        };
        for (backlog, wanted) in [(0, 0), (1, 1), (100, 1), (101, 2), (950, 10), (5000, 10)] {
            let (d, _) = decide(&p, History::default(), obs(backlog, 0, 0), secs(0));
            assert_eq!(d.wanted, wanted, "backlog {backlog}");
        }
    }

    #[test]
    fn in_flight_messages_count_as_backlog() {
        let p = Policy {
            max_step: 100,
            ..policy()
        };
        let (d, _) = decide(&p, History::default(), obs(0, 250, 1), secs(0));
        assert_eq!((d.action, d.desired), (Action::ScaleOut, 3));
        assert_eq!(d.backlog_per_worker, Some(250.0));
    }

    #[test]
    fn a_backlog_with_no_workers_launches_some_at_once() {
        let (d, h) = decide(&policy(), History::default(), obs(150, 0, 0), secs(5));
        assert_eq!((d.action, d.desired), (Action::ScaleOut, 2));
        assert_eq!(d.backlog_per_worker, None);
        assert_eq!(h.last_change, Some(secs(5)));
    }

    #[test]
    fn scale_out_is_capped_per_step() {
        let (d, _) = decide(&policy(), History::default(), obs(900, 0, 1), secs(0));
        assert_eq!((d.action, d.desired, d.wanted), (Action::ScaleOut, 4, 9));
        assert!(d.reason.contains("step capped"), "{}", d.reason);
    }

    #[test]
    fn scale_out_waits_for_its_cooldown_after_a_change() {
        let h = History {
            last_change: Some(secs(100)),
            fewer_wanted_since: None,
        };
        let (d, h2) = decide(&policy(), h, obs(500, 0, 2), secs(130));
        assert_eq!((d.action, d.desired), (Action::Hold, 2));
        assert!(d.reason.contains("scale-out cooldown"), "{}", d.reason);
        assert_eq!(h2, h);
        let (d, _) = decide(&policy(), h, obs(500, 0, 2), secs(160));
        assert_eq!((d.action, d.desired), (Action::ScaleOut, 5));
    }

    #[test]
    fn scale_in_waits_until_fewer_were_wanted_for_the_whole_cooldown() {
        let p = policy();
        let mut h = History {
            last_change: Some(secs(0)),
            fewer_wanted_since: None,
        };
        // The queue empties at t=1000: nothing happens until 300 s later.
        for t in [1000, 1100, 1299] {
            let (d, next) = decide(&p, h, obs(0, 0, 3), secs(t));
            assert_eq!((d.action, d.desired), (Action::Hold, 3), "t={t}");
            assert_eq!(next.fewer_wanted_since, Some(secs(1000)));
            h = next;
        }
        let (d, h) = decide(&p, h, obs(0, 0, 3), secs(1300));
        assert_eq!((d.action, d.desired), (Action::ScaleIn, 0));
        assert_eq!(h.last_change, Some(secs(1300)));
        assert_eq!(h.fewer_wanted_since, None);
    }

    #[test]
    fn a_burst_during_the_scale_in_window_restarts_it() {
        let p = policy();
        let h = History {
            last_change: Some(secs(0)),
            fewer_wanted_since: None,
        };
        let (_, h) = decide(&p, h, obs(0, 0, 2), secs(1000));
        // A burst wants both workers again: the window resets.
        let (d, h) = decide(&p, h, obs(150, 0, 2), secs(1200));
        assert_eq!(d.action, Action::Hold);
        assert_eq!(h.fewer_wanted_since, None);
        let (d, h) = decide(&p, h, obs(0, 0, 2), secs(1250));
        assert_eq!(d.action, Action::Hold);
        assert_eq!(h.fewer_wanted_since, Some(secs(1250)));
        let (d, _) = decide(&p, h, obs(0, 0, 2), secs(1549));
        assert_eq!(d.action, Action::Hold);
    }

    #[test]
    fn scale_in_is_capped_per_step_and_respects_min() {
        let p = Policy { min: 2, ..policy() };
        let h = History {
            last_change: None,
            fewer_wanted_since: Some(secs(0)),
        };
        let (d, _) = decide(&p, h, obs(0, 0, 9), secs(400));
        assert_eq!((d.action, d.desired, d.wanted), (Action::ScaleIn, 6, 2));
    }

    #[test]
    fn jobs_in_flight_keep_their_workers() {
        let p = policy();
        let h = History {
            last_change: None,
            fewer_wanted_since: Some(secs(0)),
        };
        // 2 in flight wants 1 worker: scale 3 -> 1, never to 0 while jobs are held.
        let (d, _) = decide(&p, h, obs(0, 2, 3), secs(1000));
        assert_eq!((d.action, d.desired), (Action::ScaleIn, 1));
    }

    #[test]
    fn bounds_are_enforced_at_once() {
        let p = Policy {
            min: 2,
            max: 4,
            ..policy()
        };
        let h = History {
            last_change: Some(secs(99)),
            fewer_wanted_since: None,
        };
        let (d, _) = decide(&p, h, obs(0, 0, 0), secs(100));
        assert_eq!((d.action, d.desired), (Action::ScaleOut, 2));
        let (d, _) = decide(&p, h, obs(0, 0, 9), secs(100));
        assert_eq!((d.action, d.desired), (Action::ScaleIn, 4));
    }

    #[test]
    fn steady_state_holds() {
        let (d, h) = decide(&policy(), History::default(), obs(150, 50, 2), secs(10));
        assert_eq!((d.action, d.desired, d.wanted), (Action::Hold, 2, 2));
        assert_eq!(h, History::default());
    }
}

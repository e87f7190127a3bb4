//! Recording outcomes and reporting them: HdrHistogram percentiles (3 significant digits), counts by status,
//! path and error class, a readable summary, and a JSON document with a stable, documented schema
//! (`docs/loadtest.md`, schema `airq-loadtest/1`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::{ErrorClass, Outcome, Path};

/// The schema name written into every JSON report; bumped when a field changes meaning or disappears.
pub const SCHEMA: &str = "airq-loadtest/1";

/// Highest latency the histograms track: one hour, in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;
/// Points kept for the latency-over-time plot.
const MAX_TIMELINE: usize = 20_000;

pub struct Recorder {
    first_answer: Histogram<u64>,
    result: Histogram<u64>,
    pub completed: u64,
    pub ok: u64,
    pub direct: u64,
    pub queued: u64,
    pub bytes: u64,
    pub status_codes: BTreeMap<u16, u64>,
    pub errors: BTreeMap<ErrorClass, u64>,
    /// (seconds since the run began, result latency in ms) of every n-th request.
    pub timeline: Vec<(f64, f64)>,
    timeline_every: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3)
        .expect("constant bounds and 3 significant digits are valid")
}

impl Recorder {
    pub fn new(expected: u64) -> Self {
        Recorder {
            first_answer: histogram(),
            result: histogram(),
            completed: 0,
            ok: 0,
            direct: 0,
            queued: 0,
            bytes: 0,
            status_codes: BTreeMap::new(),
            errors: BTreeMap::new(),
            timeline: Vec::new(),
            timeline_every: (expected / MAX_TIMELINE as u64).max(1),
        }
    }

    pub fn record(&mut self, outcome: &Outcome, since_start: Duration) {
        self.completed += 1;
        self.bytes += outcome.bytes;
        if let Some(status) = outcome.status {
            *self.status_codes.entry(status).or_default() += 1;
        }
        match outcome.path {
            Some(Path::Direct) => self.direct += 1,
            Some(Path::Queued) => self.queued += 1,
            None => {}
        }
        if let Some(first) = outcome.first_answer {
            let _ = self.first_answer.record(micros(first));
        }
        match outcome.result {
            Ok(latency) => {
                self.ok += 1;
                let _ = self.result.record(micros(latency));
                if self.completed.is_multiple_of(self.timeline_every)
                    && self.timeline.len() < MAX_TIMELINE * 2
                {
                    self.timeline
                        .push((since_start.as_secs_f64(), latency.as_secs_f64() * 1000.0));
                }
            }
            Err(class) => *self.errors.entry(class).or_default() += 1,
        }
    }

    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn report(&self, run: RunInfo) -> Report {
        let elapsed = run.elapsed_s.max(1e-9);
        Report {
            schema: SCHEMA,
            run,
            completed: self.completed,
            ok: self.ok,
            failed: self.failed(),
            direct: self.direct,
            queued: self.queued,
            throughput_rps: self.completed as f64 / elapsed,
            bytes_received: self.bytes,
            status_codes: self
                .status_codes
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            errors: self.errors.iter().map(|(k, v)| (*k, *v)).collect(),
            first_answer_ms: Percentiles::of(&self.first_answer),
            result_ms: Percentiles::of(&self.result),
        }
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

/// Latency percentiles in milliseconds. All zero when nothing was recorded.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99_9")]
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// How the run was set up.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub target: String,
    /// `closed` or `open`.
    pub mode: &'static str,
    pub requests_planned: u64,
    pub concurrency: Option<usize>,
    pub rate_per_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub poll: crate::client::PollMode,
    pub elapsed_s: f64,
    /// Open loop: arrivals sent more than 5 ms after their scheduled time.
    pub late_arrivals: u64,
    /// Open loop: arrivals not sent because `--max-in-flight` requests were already open.
    pub dropped_arrivals: u64,
}

/// The JSON report (`--json FILE`). Field meanings are documented in `docs/loadtest.md`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub run: RunInfo,
    pub completed: u64,
    pub ok: u64,
    pub failed: u64,
    pub direct: u64,
    pub queued: u64,
    pub throughput_rps: f64,
    pub bytes_received: u64,
    pub status_codes: BTreeMap<String, u64>,
    pub errors: BTreeMap<ErrorClass, u64>,
    pub first_answer_ms: Percentiles,
    pub result_ms: Percentiles,
}

impl Report {
    /// Why this run measured nothing, if it did not: no request succeeded (all failed, or none was sent). Such a
    /// run fails (exit status 1) even without `--fail-if`: its latencies are those of errors, or there are none,
    /// and a script that reads only the exit status must not take it for a measurement.
    pub fn nothing_succeeded(&self) -> Option<String> {
        if self.ok > 0 {
            return None;
        }
        let connect = self.errors.get(&ErrorClass::Connect).copied().unwrap_or(0);
        Some(if self.completed == 0 {
            "no request completed".to_string()
        } else if connect == self.completed {
            format!(
                "could not connect to {}: all {} requests failed to connect (is the gateway running there?)",
                self.run.target, self.completed
            )
        } else {
            format!(
                "no request succeeded: all {} failed ({})",
                self.completed,
                self.error_list().join(", ")
            )
        })
    }

    /// `class: count` for each error class.
    fn error_list(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}: {v}",
                    serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                )
            })
            .collect()
    }

    /// The human-readable summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let r = &self.run;
        let _ = writeln!(s, "airq-loadtest: {} ({} loop)", r.target, r.mode);
        if r.mode == "closed" {
            let _ = writeln!(
                s,
                "  note: closed-loop tails are optimistic (a slow answer delays the next request instead of queueing \
                 behind it); use --rate for latency under a fixed arrival rate"
            );
        }
        let _ = writeln!(
            s,
            "  requests: {} completed, {} ok, {} failed in {:.2} s  ({:.1} req/s)",
            self.completed, self.ok, self.failed, r.elapsed_s, self.throughput_rps
        );
        let _ = writeln!(
            s,
            "  paths:    {} direct (200), {} queued (202, polled)",
            self.direct, self.queued
        );
        if r.mode == "open" {
            let _ = writeln!(
                s,
                "  arrivals: {} late (>5 ms behind schedule), {} dropped",
                r.late_arrivals, r.dropped_arrivals
            );
        }
        let _ = writeln!(
            s,
            "  latency (ms)      p50      p90      p99    p99.9      max     mean"
        );
        for (name, p) in [
            ("first answer", &self.first_answer_ms),
            ("result", &self.result_ms),
        ] {
            let _ = writeln!(
                s,
                "  {name:<14}{:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                p.p50, p.p90, p.p99, p.p999, p.max, p.mean
            );
        }
        let codes: Vec<String> = self
            .status_codes
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            s,
            "  status:   {}",
            if codes.is_empty() {
                "-".into()
            } else {
                codes.join(", ")
            }
        );
        let errors = self.error_list();
        let _ = writeln!(
            s,
            "  errors:   {}",
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            }
        );
        if self.errors.contains_key(&ErrorClass::Unauthorized) {
            let _ = writeln!(
                s,
                "  note: 401 unauthorized: the gateway wants an API key (--api-key or AIRQ_API_KEY), or does not \
                 know the one given"
            );
        }
        let _ = writeln!(
            s,
            "  received: {:.2} MiB",
            self.bytes_received as f64 / (1 << 20) as f64
        );
        s
    }
}

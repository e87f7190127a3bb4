//! `--fail-if 'p99>250ms,errors>0'`: conditions that make the run exit non-zero, so CI can gate on latency.

use std::time::Duration;

use crate::report::Report;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

/// One condition, e.g. `p99>250ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    metric: String,
    op: Op,
    value: f64,
    text: String,
}

const METRICS: &str =
    "p50, p90, p99, p99.9, max, mean (result latency), first_p50 .. first_max (first answer), \
                       errors, error_rate, rps, queued";

/// Parses a comma-separated list of conditions.
pub fn parse(spec: &str) -> Result<Vec<Threshold>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_one)
        .collect()
}

fn parse_one(text: &str) -> Result<Threshold, String> {
    let pos = text
        .find(['<', '>'])
        .ok_or_else(|| format!("{text:?}: expected METRIC>VALUE or METRIC<VALUE"))?;
    let metric = text[..pos].trim().to_ascii_lowercase();
    let rest = &text[pos..];
    let (op, value) = if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else {
        return Err(format!("{text:?}: no comparison"));
    };
    let value = value.trim();
    let is_latency = metric.starts_with('p')
        || metric == "max"
        || metric == "mean"
        || metric.starts_with("first_");
    let value = if is_latency {
        match humantime::parse_duration(value) {
            Ok(d) => duration_ms(d),
            Err(_) => value
                .parse::<f64>()
                .map_err(|_| format!("{text:?}: {value:?} is not a duration like 250ms"))?,
        }
    } else {
        value
            .parse::<f64>()
            .map_err(|_| format!("{text:?}: {value:?} is not a number"))?
    };
    let t = Threshold {
        metric,
        op,
        value,
        text: text.to_string(),
    };
    // Reject unknown metrics now, not after a long run.
    t.measure(&dummy())?;
    Ok(t)
}

fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Threshold {
    fn measure(&self, r: &Report) -> Result<f64, String> {
        let pick = |p: &crate::report::Percentiles, name: &str| -> Option<f64> {
            Some(match name {
                "p50" => p.p50,
                "p90" => p.p90,
                "p99" => p.p99,
                "p99.9" | "p999" => p.p999,
                "max" => p.max,
                "mean" => p.mean,
                _ => return None,
            })
        };
        let m = self.metric.as_str();
        let value = match m {
            "errors" => Some(r.failed as f64),
            "error_rate" => Some(if r.completed == 0 {
                0.0
            } else {
                r.failed as f64 / r.completed as f64
            }),
            "rps" => Some(r.throughput_rps),
            "queued" => Some(r.queued as f64),
            _ => match m.strip_prefix("first_") {
                Some(name) => pick(&r.first_answer_ms, name),
                None => pick(&r.result_ms, m),
            },
        };
        value.ok_or_else(|| format!("unknown metric {:?}; known: {METRICS}", self.metric))
    }

    /// The condition's text and the measured value, if the condition holds (the run fails).
    pub fn check(&self, report: &Report) -> Option<String> {
        let v = self.measure(report).ok()?;
        let hit = match self.op {
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
        };
        hit.then(|| format!("{} (measured {v:.3})", self.text))
    }
}

fn dummy() -> Report {
    let mut rec = crate::report::Recorder::new(1);
    rec.completed = 0;
    rec.report(crate::report::RunInfo {
        target: String::new(),
        mode: "closed",
        requests_planned: 0,
        concurrency: None,
        rate_per_s: None,
        duration_s: None,
        poll: crate::client::PollMode::Wait,
        elapsed_s: 1.0,
        late_arrivals: 0,
        dropped_arrivals: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ErrorClass, Outcome, Path};
    use crate::report::{Recorder, RunInfo};

    fn report(latencies_ms: &[u64], errors: u64) -> Report {
        let mut rec = Recorder::new(100);
        for ms in latencies_ms {
            let d = Duration::from_millis(*ms);
            rec.record(
                &Outcome {
                    first_answer: Some(d),
                    result: Ok(d),
                    path: Some(Path::Direct),
                    status: Some(200),
                    bytes: 10,
                },
                d,
            );
        }
        for _ in 0..errors {
            rec.record(
                &Outcome {
                    first_answer: None,
                    result: Err(ErrorClass::Connect),
                    path: None,
                    status: None,
                    bytes: 0,
                },
                Duration::ZERO,
            );
        }
        let mut info = dummy().run;
        info.elapsed_s = 1.0;
        rec.report(RunInfo { ..info })
    }

    #[test]
    fn thresholds_parse_and_trip() {
        let ts = parse("p99>250ms, errors>0").expect("parse");
        assert_eq!(ts.len(), 2);
        let fine = report(&[10, 20, 30], 0);
        assert!(ts.iter().all(|t| t.check(&fine).is_none()));
        let slow = report(&[10, 20, 900], 0);
        assert!(ts[0].check(&slow).is_some());
        let failing = report(&[10], 2);
        assert!(ts[1].check(&failing).is_some());
        assert!(parse("p99>1s").expect("parse")[0].check(&slow).is_none());
        assert!(parse("rps<5").expect("parse")[0].check(&fine).is_some());
    }

    #[test]
    fn bad_thresholds_are_errors() {
        assert!(parse("p99").is_err());
        assert!(parse("latency>5ms").is_err());
        assert!(parse("errors>many").is_err());
    }
}

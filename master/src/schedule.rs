//! Running ingest once, or every interval with jitter until stopped.

use airq_common::store::Creation;
use std::sync::Arc;
use std::time::Duration;

use airq_common::shutdown::CancellationToken;
use airq_common::store::ReadingStore;
use rand::Rng;

use crate::config::IngestArgs;
use crate::error::IngestError;
use crate::http::{self, Validators};
use crate::ingest::Ingest;
use crate::source::Source;
use crate::summary::IngestSummary;

/// The next run's delay: the interval ±10%, uniformly, so that several masters started together (or a fleet
/// restarted at once) drift apart instead of all fetching the feed in the same second.
pub fn jittered(every: Duration, rng: &mut impl Rng) -> Duration {
    every.mul_f64(rng.gen_range(0.9..=1.1))
}

/// Runs as `args` say, calling `report` with each run's outcome as soon as it ends (an interrupted run
/// included).
///
/// - Without `--every`: one run. A run that fails outright returns its error.
/// - With `--every`: a run now, then one every interval ±10% until `shutdown` completes. A failed run is logged
///   with its cause and retried at the next tick; the ETag/Last-Modified of a URL are kept between runs.
/// - When `shutdown` completes during a run, the batch being written is finished, the run ends there and is
///   reported as interrupted.
///
/// Returns whether the last run was complete (no damage, not interrupted): the exit status.
pub async fn run(
    args: &IngestArgs,
    stop: CancellationToken,
    report: impl FnMut(&Result<IngestSummary, IngestError>),
) -> Result<bool, IngestError> {
    let creation = if args.create {
        Creation::IfMissing
    } else {
        Creation::Never
    };
    let store = airq_common::store::open_store_as(&args.store, creation).await?;
    run_on(store, args, stop, report).await
}

/// [`run`] on a store the caller has opened already (standalone mode shares the gateway's).
pub async fn run_on(
    store: Arc<dyn ReadingStore>,
    args: &IngestArgs,
    stop: CancellationToken,
    mut report: impl FnMut(&Result<IngestSummary, IngestError>),
) -> Result<bool, IngestError> {
    let ingest = Ingest {
        store,
        format: args.format,
        country: args.country.clone(),
        batch: args.batch,
        http: http::client(args.http_timeout)?,
    };
    let source = Source::parse(&args.source);
    let mut validators = Validators::default();
    loop {
        let outcome = {
            let run = ingest.run(&source, &mut validators, &stop);
            tokio::pin!(run);
            tokio::select! {
                outcome = &mut run => outcome,
                _ = stop.cancelled() => {
                    tracing::info!("stop requested: finishing the batch in hand");
                    run.await
                }
            }
        };
        let stopping = stop.is_cancelled();
        after_run(ingest.store.as_ref(), &outcome).await;
        report(&outcome);
        let complete = match outcome {
            Ok(summary) => summary.is_complete(),
            Err(e) if args.every.is_some() && !stopping => {
                tracing::error!(source = %source, error = %e, "ingest run failed; retrying at the next tick");
                false
            }
            Err(e) => return Err(e),
        };
        let Some(every) = args.every.filter(|_| !stopping) else {
            return Ok(complete);
        };
        let nap = jittered(every, &mut rand::thread_rng());
        tracing::info!(next_in = %humantime::format_duration(round_to_ms(nap)), "next ingest scheduled");
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = stop.cancelled() => return Ok(complete),
        }
    }
}

/// What follows every run, however it was started (a schedule, once, standalone's bundled sample): its
/// metrics, and its note in the store.
pub async fn after_run(store: &dyn ReadingStore, outcome: &Result<IngestSummary, IngestError>) {
    record_metrics(outcome);
    note(store, outcome).await;
}

/// Leaves the run's summary in the store, where every gateway's `/api/status` reads it. Best effort: a run
/// whose note cannot be written has still ingested what it says.
async fn note(store: &dyn ReadingStore, outcome: &Result<IngestSummary, IngestError>) {
    let Ok(summary) = outcome else {
        return;
    };
    let summary_json = match serde_json::to_value(summary) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "could not encode the run's summary for the status note");
            return;
        }
    };
    let note = airq_common::store::IngestNote {
        finished_ms: airq_common::protocol::now_ms(),
        complete: summary.is_complete(),
        summary: summary_json,
    };
    if let Err(e) = store.note_ingest(&note).await {
        tracing::warn!(error = %e, "could not note the run in the store (status pages will not show it)");
    }
}

/// One run's outcome in the metrics (`airq_ingest_*`).
fn record_metrics(outcome: &Result<IngestSummary, IngestError>) {
    use airq_common::metrics::{
        INGEST_DAMAGE, INGEST_DURATION, INGEST_LAST_SUCCESS, INGEST_RUNS, INGEST_SKIPPED,
        INGEST_WRITTEN,
    };
    let summary = match outcome {
        Ok(summary) => summary,
        Err(_) => {
            metrics::counter!(INGEST_RUNS, "outcome" => "failed").increment(1);
            return;
        }
    };
    let label = if summary.is_complete() {
        "complete"
    } else if summary.interrupted {
        "interrupted"
    } else {
        "damaged"
    };
    metrics::counter!(INGEST_RUNS, "outcome" => label).increment(1);
    metrics::counter!(INGEST_WRITTEN).increment(summary.readings_written);
    for (reason, n) in &summary.skipped {
        metrics::counter!(INGEST_SKIPPED, "reason" => reason.as_str()).increment(*n);
    }
    for damage in &summary.damage {
        metrics::counter!(INGEST_DAMAGE, "kind" => damage.kind).increment(1);
    }
    metrics::histogram!(INGEST_DURATION).record(summary.elapsed.as_secs_f64());
    if summary.is_complete() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        metrics::gauge!(INGEST_LAST_SUCCESS).set(now);
    }
}

fn round_to_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let mut rng = rand::thread_rng();
        let every = Duration::from_secs(300);
        let naps: Vec<Duration> = (0..1000).map(|_| jittered(every, &mut rng)).collect();
        for d in &naps {
            assert!(
                *d >= Duration::from_secs(270) && *d <= Duration::from_secs(330),
                "{d:?}"
            );
        }
        assert!(naps.iter().any(|d| *d < Duration::from_secs(285)));
        assert!(naps.iter().any(|d| *d > Duration::from_secs(315)));
    }
}

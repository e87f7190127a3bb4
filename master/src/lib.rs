//! airq-master: ingests Sensor.Community feeds and archives into the reading store, once or on a schedule.
//!
//! Layout: [`config`] (command line), [`source`] (file, folder or URL, and format detection), [`http`] (fetching
//! with conditional GET), [`ingest`] (one run: parse → batches → upsert), [`summary`] (what a run did), and
//! [`run`] here (once, or every interval with jitter until stopped).

pub mod config;
pub mod http;
pub mod ingest;
pub mod source;
pub mod summary;

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::config::IngestArgs;
use crate::http::Validators;
use crate::ingest::Ingest;
use crate::source::Source;
use crate::summary::IngestSummary;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("could not read {source_name}: {error}")]
    Source {
        source_name: String,
        #[source]
        error: std::io::Error,
    },
    #[error("fetching {url}: {message}")]
    Http { url: String, message: String },
    #[error(transparent)]
    Store(#[from] airq_common::StoreError),
    #[error("ingest task failed: {0}")]
    Task(String),
}

/// The next run's delay: the interval ±10%, so that many masters on one schedule do not all fetch at once.
pub fn jittered(every: Duration, rng: &mut impl Rng) -> Duration {
    every.mul_f64(rng.gen_range(0.9..=1.1))
}

/// Runs as the arguments say, calling `report` with each run's summary (or error). Returns whether every run
/// was complete. With `--every`, runs until `shutdown` completes; a failed run is logged and retried next tick.
pub async fn run(
    args: &IngestArgs,
    shutdown: impl Future<Output = ()>,
    mut report: impl FnMut(&Result<IngestSummary, IngestError>),
) -> Result<bool, IngestError> {
    let store = airq_common::open_store(&args.store).await?;
    let ingest = Ingest {
        store,
        format: args.format,
        country: args.country.clone(),
        batch: args.batch,
        http: http::client(args.http_timeout)?,
    };
    let source = Source::parse(&args.source);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut validators = Validators::default();
    tokio::pin!(shutdown);
    let mut all_complete = true;
    loop {
        // A stop request during a run flips the flag; the run finishes its batch and returns.
        let outcome = {
            let run = ingest.run(&source, &mut validators, &stop_rx);
            tokio::pin!(run);
            tokio::select! {
                outcome = &mut run => outcome,
                _ = &mut shutdown => {
                    let _ = stop_tx.send(true);
                    let outcome = run.await;
                    report(&outcome);
                    return Ok(false);
                }
            }
        };
        report(&outcome);
        match (&outcome, args.every) {
            (Ok(summary), _) => all_complete &= summary.is_complete(),
            (Err(e), Some(_)) => {
                tracing::error!(error = %e, "ingest run failed; retrying at the next tick");
                all_complete = false;
            }
            (Err(_), None) => return outcome.map(|_| false),
        }
        let Some(every) = args.every else {
            return Ok(all_complete);
        };
        let nap = jittered(every, &mut rand::thread_rng());
        tracing::info!(next_in = ?nap, "next ingest scheduled");
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = &mut shutdown => return Ok(all_complete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(300), &mut rng);
            assert!(
                d >= Duration::from_secs(270) && d <= Duration::from_secs(330),
                "{d:?}"
            );
        }
    }
}

//! The two load shapes.
//!
//! Closed loop (`-n`, `-c`): C clients each send their next request when the previous one is done; this is what
//! the legacy tool did, and its tails are optimistic because a slow server slows the arrivals too.
//! Open loop (`--rate`, `--duration`): arrivals on a fixed schedule paced by governor, whatever the server does;
//! each request's latency counts from its *scheduled* time, so queueing delay is not hidden (no coordinated
//! omission). Arrivals that leave late are counted, and arrivals beyond `--max-in-flight` are dropped and
//! counted, never silently skipped.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{Quota, RateLimiter};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::{Client, Outcome};
use crate::queries::QueryMix;
use crate::report::Recorder;

/// An arrival sent more than this after its scheduled time counts as late (tokio's timer has 1 ms resolution,
/// so a smaller bound would count timer jitter).
pub const LATE: Duration = Duration::from_millis(5);

pub struct Load {
    pub client: Arc<Client>,
    pub mix: Arc<QueryMix>,
    pub show_progress: bool,
    /// Hard bound on the whole run: it stops by itself.
    pub max_time: Duration,
}

/// What a run measured, besides the recorder.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pacing {
    pub elapsed: Duration,
    pub late: u64,
    pub dropped: u64,
}

fn progress(total: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Receives outcomes and records them; returns the recorder when every sender is gone.
fn collector(
    total: u64,
    start: Instant,
    show: bool,
) -> (
    mpsc::UnboundedSender<(Outcome, Instant)>,
    tokio::task::JoinHandle<Recorder>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Outcome, Instant)>();
    let handle = tokio::spawn(async move {
        let bar = progress(total, show);
        let mut rec = Recorder::new(total);
        while let Some((outcome, scheduled)) = rx.recv().await {
            rec.record(&outcome, scheduled - start);
            bar.inc(1);
            if rec.completed.is_multiple_of(64) {
                bar.set_message(format!("{} queued, {} failed", rec.queued, rec.failed()));
            }
        }
        bar.finish_and_clear();
        rec
    });
    (tx, handle)
}

pub async fn closed(load: &Load, requests: u64, concurrency: usize) -> (Recorder, Pacing) {
    let start = Instant::now();
    let deadline = start + load.max_time;
    let (tx, collected) = collector(requests, start, load.show_progress);
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, mix, next, tx) = (
            load.client.clone(),
            load.mix.clone(),
            next.clone(),
            tx.clone(),
        );
        clients.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() >= deadline {
                    return;
                }
                let scheduled = Instant::now();
                let outcome = client.run(mix.body(i), scheduled).await;
                let _ = tx.send((outcome, scheduled));
            }
        });
    }
    drop(tx);
    while clients.join_next().await.is_some() {}
    let rec = collected.await.unwrap_or_else(|_| Recorder::new(0));
    (
        rec,
        Pacing {
            elapsed: start.elapsed(),
            late: 0,
            dropped: 0,
        },
    )
}

pub async fn open(
    load: &Load,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> (Recorder, Pacing) {
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
    // Each arrival waits for its own scheduled instant (never early, no drift), and governor caps the rate
    // at which arrivals that fell behind catch up: at most 50 ms' worth at once.
    let burst = NonZeroU32::new((rate * 0.05).ceil().clamp(1.0, 10_000.0) as u32)
        .unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    let limiter = RateLimiter::direct(quota);
    let start = Instant::now();
    let deadline = start + load.max_time;
    let (tx, collected) = collector(total, start, load.show_progress);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut pacing = Pacing::default();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..total {
        let scheduled = start + period.mul_f64(k as f64);
        tokio::time::sleep_until(scheduled).await;
        limiter.until_ready().await;
        let now = Instant::now();
        if now >= deadline {
            pacing.dropped += total - k;
            break;
        }
        if now.saturating_duration_since(scheduled) > LATE {
            pacing.late += 1;
        }
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            pacing.dropped += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (client, mix, tx, in_flight) = (
            load.client.clone(),
            load.mix.clone(),
            tx.clone(),
            in_flight.clone(),
        );
        tasks.spawn(async move {
            let outcome = client.run(mix.body(k), scheduled).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send((outcome, scheduled));
        });
        while tasks.try_join_next().is_some() {}
    }
    drop(tx);
    let remaining = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(remaining, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tasks.abort_all();
    }
    pacing.elapsed = start.elapsed();
    let rec = collected.await.unwrap_or_else(|_| Recorder::new(0));
    (rec, pacing)
}

//! How fast autoscaling answers a burst: a real gateway, the embedded queue, and `airq-worker` processes started
//! and stopped by the autoscale loop (`--provider local`), against the same burst answered by a fleet already
//! running at its maximum. Bounded: one burst of `--jobs` queued queries per run, then the wait for the fleet to
//! go back to zero.
//!
//! ```sh
//! cargo build --release -p airq-worker
//! cargo run --release -p airq-deploy --example autoscale_bench -- --jobs 400
//! ```
//!
//! Reports per run: time to the first worker, the most workers, job latency (submit to answer fetched) from an
//! HdrHistogram, the whole burst's duration, and how long after the last answer the fleet was back at zero.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airq_common::backends::BackendUrls;
use airq_common::feed::FeedReader;
use airq_common::shutdown::CancellationToken;
use airq_deploy::autoscale::Policy;
use airq_deploy::fleet::{self, autoscale_loop, LoopOptions};
use airq_deploy::local::{LocalFleet, LocalOptions};
use airq_gateway::SystemBuilder;
use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;

const SAMPLE: &[u8] = include_bytes!("../../data/feed/sensor-community-2019-04-16.json");

#[derive(Parser)]
struct Args {
    /// Queued queries in the burst.
    #[arg(long, default_value_t = 400)]
    jobs: usize,
    /// Most workers.
    #[arg(long, default_value_t = 4)]
    max: u32,
    /// Each worker's --concurrency.
    #[arg(long, default_value_t = 2)]
    concurrency: u32,
    /// Target backlog per worker.
    #[arg(long, default_value_t = 20.0)]
    target: f64,
    /// Time between decisions.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Scale-in window.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    cooldown: Duration,
    /// The airq-worker binary (default: the one of this build profile).
    #[arg(long)]
    worker_bin: Option<PathBuf>,
}

struct Outcome {
    first_worker: Option<Duration>,
    most_workers: u32,
    latency: Histogram<u64>,
    makespan: Duration,
    back_to_zero: Option<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Examples live in target/<profile>/examples/; the worker binary in target/<profile>/.
    let worker_bin = match &args.worker_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("airq-worker"))
            .context("locating airq-worker")?,
    };
    anyhow::ensure!(
        worker_bin.exists(),
        "{} is missing: cargo build --release -p airq-worker",
        worker_bin.display()
    );
    println!(
        "burst of {} queued queries; workers: --concurrency {}, max {}; policy: target {} per worker, \
         interval {:?}, scale-in window {:?}",
        args.jobs, args.concurrency, args.max, args.target, args.interval, args.cooldown
    );
    println!("| fleet | first worker | most workers | p50 ms | p90 ms | p99 ms | max ms | burst | back to 0 |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let autoscaled = run(&args, &worker_bin, true).await?;
    report("autoscaled from 0", &autoscaled);
    let fixed = run(&args, &worker_bin, false).await?;
    report(&format!("static, {} running", args.max), &fixed);
    Ok(())
}

fn report(name: &str, o: &Outcome) {
    let ms = |v: u64| v as f64 / 1000.0;
    println!(
        "| {name} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} s | {} |",
        o.first_worker
            .map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
        o.most_workers,
        ms(o.latency.value_at_quantile(0.5)),
        ms(o.latency.value_at_quantile(0.9)),
        ms(o.latency.value_at_quantile(0.99)),
        ms(o.latency.max()),
        o.makespan.as_secs_f64(),
        o.back_to_zero
            .map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
    );
}

async fn run(args: &Args, worker_bin: &Path, autoscale: bool) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("airq.db").to_string_lossy().into_owned();
    let system = SystemBuilder::new(BackendUrls::embedded(&db))
        .start()
        .await?;
    system
        .backends
        .store
        .upsert(&FeedReader::new(SAMPLE).collect::<Vec<_>>())
        .await?;
    let base = system.base_url();
    let stop = CancellationToken::new();
    let fleet = Arc::new(
        LocalFleet::open(LocalOptions {
            state_dir: dir.path().join("stack"),
            worker_bin: worker_bin.to_path_buf(),
            store: format!("sqlite://{db}"),
            queue: format!("sqlite://{db}"),
            concurrency: args.concurrency,
            worker_args: Vec::new(),
        })
        .await?,
    );

    let start = Instant::now();
    let first_worker: Arc<Mutex<Option<Duration>>> = Arc::default();
    let most = Arc::new(AtomicU32::new(0));
    let looping = if autoscale {
        let options = LoopOptions {
            policy: Policy {
                min: 0,
                max: args.max,
                target_backlog_per_worker: args.target,
                max_step: args.max,
                scale_out_cooldown: Duration::ZERO,
                scale_in_cooldown: args.cooldown,
            },
            interval: args.interval,
            dry_run: false,
        };
        let (fleet, first, most, stopped) = (
            fleet.clone(),
            first_worker.clone(),
            most.clone(),
            stop.clone(),
        );
        Some(tokio::spawn(async move {
            autoscale_loop(
                fleet.as_ref(),
                &options,
                stopped.cancelled_owned(),
                |tick| {
                    if let Ok(t) = tick {
                        if let Some(o) = &t.outcome {
                            most.fetch_max(o.after, Ordering::Relaxed);
                            if !o.launched.is_empty() {
                                first
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .get_or_insert(start.elapsed());
                            }
                        }
                    }
                },
            )
            .await
        }))
    } else {
        fleet::scale(fleet.as_ref(), args.max).await?;
        most.store(args.max, Ordering::Relaxed);
        None
    };

    // The burst: every query queued at once, then every answer awaited.
    let client = reqwest::Client::new();
    let burst_start = Instant::now();
    let mut waiting = tokio::task::JoinSet::new();
    for i in 0..args.jobs {
        let client = client.clone();
        let url = format!(
            "{base}/api/query?start=2019-04-16T00:00:00Z&end=2019-04-17T00:00:00Z&min_aqi={}",
            i % 3
        );
        let base = base.clone();
        waiting.spawn(async move {
            let submitted = Instant::now();
            let resp = client
                .get(&url)
                .header("Prefer", "respond-async")
                .send()
                .await?;
            anyhow::ensure!(resp.status() == 202, "submit: {}", resp.status());
            let body: serde_json::Value = serde_json::from_str(&resp.text().await?)?;
            let id = body["id"].as_str().context("no id")?.to_string();
            loop {
                let resp = client
                    .get(format!("{base}/results/{id}?wait=30s"))
                    .send()
                    .await?;
                match resp.status().as_u16() {
                    200 => {
                        resp.bytes().await?;
                        return Ok(submitted.elapsed());
                    }
                    202 => continue,
                    other => anyhow::bail!("result {id}: {other}"),
                }
            }
        });
    }
    let mut latency = Histogram::<u64>::new(3)?;
    while let Some(done) = waiting.join_next().await {
        let took = done??;
        latency.record(took.as_micros() as u64)?;
    }
    let makespan = burst_start.elapsed();

    let back_to_zero = if autoscale {
        let idle = Instant::now();
        let deadline = idle + args.cooldown * 4 + Duration::from_secs(30);
        loop {
            if fleet.all_members()?.is_empty() {
                break Some(idle.elapsed());
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    } else {
        fleet::scale(fleet.as_ref(), 0).await?;
        fleet.wait_stopped(Duration::from_secs(30)).await?;
        None
    };
    stop.cancel();
    if let Some(l) = looping {
        l.await??;
    }
    system.shutdown().await?;
    let first_worker = *first_worker.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Outcome {
        first_worker,
        most_workers: most.load(Ordering::Relaxed),
        latency,
        makespan,
        back_to_zero,
    })
}

//! Ingest rate into a store: a synthetic feed is generated and parsed once up front, then only the store's
//! writes are timed. Results go to `docs/benchmarks.md`, with the command that produced them.
//!
//! SQLite (a fresh database in a temporary folder):
//!   `cargo run --release -p airq-master --example ingest_bench -- --sensors 2000 --hours 5 --batch 5000`
//! DynamoDB (`AWS_ENDPOINT_URL` pointing at an emulator, dummy credentials and region):
//!   `... --example ingest_bench -- --store dynamodb://TABLE --sensors 600 --hours 1 [--compare-one-by-one 1500]`
//!
//! `--compare-one-by-one N` times, in the same run against the same table, `upsert` of N readings (BatchWriteItem
//! of 25, `--in-flight` requests at once) and one `PutItem` per reading for N other readings, and prints both
//! rates and their ratio. `--store sqlite` and `--store dynamodb` (a table named `bench-PID`) also work.

use std::time::Instant;

use airq_common::feed::FeedReader;
use airq_common::store::dynamodb::{DynamoStore, WriteOptions};
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::synth::{feed_bytes, SynthConfig};
use airq_common::Reading;
use anyhow::{bail, ensure, Context};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// sqlite (a fresh file in a temporary folder), sqlite://PATH (must not exist yet), dynamodb (table
    /// bench-PID) or dynamodb://TABLE.
    #[arg(long, default_value = "sqlite")]
    store: String,
    #[arg(long, default_value_t = 3000)]
    sensors: usize,
    #[arg(long, default_value_t = 5)]
    hours: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Readings per `upsert` call (the master's --batch).
    #[arg(long, default_value_t = airq_master::config::DEFAULT_BATCH)]
    batch: usize,
    /// DynamoDB: BatchWriteItem requests in flight.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// DynamoDB: compare batched upsert of N readings with one PutItem per reading for N other readings.
    #[arg(long)]
    compare_one_by_one: Option<usize>,
}

/// Times `upsert` of `readings` in chunks of `batch`; returns seconds.
async fn timed(
    store: &dyn ReadingStore,
    readings: &[Reading],
    batch: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    for chunk in readings.chunks(batch.max(1)) {
        store.upsert(chunk).await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = SynthConfig {
        sensors: args.sensors,
        hours: args.hours,
        seed: args.seed,
        ..SynthConfig::default()
    };
    let feed = feed_bytes(&cfg);
    let mut reader = FeedReader::new(&feed[..]);
    let readings: Vec<Reading> = reader.by_ref().collect();
    ensure!(reader.damage().is_none(), "the synthetic feed is damaged");
    ensure!(
        reader.stats().records_seen == cfg.records(),
        "parsed {} records, expected {}",
        reader.stats().records_seen,
        cfg.records()
    );
    println!(
        "synthetic feed: {} sensors x {} h = {} records, {} readings, {:.1} MB",
        cfg.sensors,
        cfg.hours,
        cfg.records(),
        readings.len(),
        feed.len() as f64 / 1e6
    );
    drop(feed);

    match args.store.as_str() {
        url if url == "sqlite" || url.starts_with("sqlite://") => {
            sqlite(&args, url, &readings).await
        }
        url if url == "dynamodb" || url.starts_with("dynamodb://") => {
            let table = match url.strip_prefix("dynamodb://") {
                Some(table) => table.to_string(),
                None => format!("bench-{}", std::process::id()),
            };
            dynamodb(&args, &table, &readings).await
        }
        other => bail!(
            "unknown --store {other:?}: use sqlite, sqlite://PATH, dynamodb or dynamodb://TABLE"
        ),
    }
}

async fn sqlite(args: &Args, url: &str, readings: &[Reading]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = match url.strip_prefix("sqlite://") {
        Some(path) => {
            ensure!(
                !std::path::Path::new(path).exists(),
                "{path} exists: the benchmark needs a fresh store"
            );
            path.to_string()
        }
        None => dir.path().join("bench.db").display().to_string(),
    };
    let store = SqliteStore::open(&path)?;
    let secs = timed(&store, readings, args.batch).await?;
    let stored = store.count().await?;
    ensure!(
        stored == readings.len() as u64,
        "stored {stored} of {} readings",
        readings.len()
    );
    println!(
        "sqlite: {} readings in {secs:.3} s = {:.0} readings/s (batches of {}, fresh store at {path})",
        readings.len(),
        rate(readings.len(), secs),
        args.batch
    );
    let again = timed(&store, readings, args.batch).await?;
    println!(
        "sqlite, the same readings again (idempotent upsert, every row an update): {:.0} readings/s",
        rate(readings.len(), again)
    );
    Ok(())
}

async fn dynamodb(args: &Args, table: &str, readings: &[Reading]) -> anyhow::Result<()> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("note: AWS_ENDPOINT_URL is not set: this writes to real DynamoDB");
    }
    let config = airq_common::aws::sdk_config().await;
    let options = WriteOptions {
        batches_in_flight: args.in_flight,
        ..WriteOptions::default()
    };
    let store = DynamoStore::new(&config, table, options)?;
    store.ensure_table().await.context("creating the table")?;
    let Some(n) = args.compare_one_by_one else {
        let secs = timed(&store, readings, args.batch).await?;
        println!(
            "dynamodb {table}: {} readings in {secs:.3} s = {:.0} readings/s (upsert batches of {}, {} requests in flight)",
            readings.len(),
            rate(readings.len(), secs),
            args.batch,
            args.in_flight
        );
        return Ok(());
    };
    // Two disjoint sets of N readings, so that neither write is an overwrite of the other's items.
    ensure!(
        readings.len() >= 2 * n,
        "--compare-one-by-one {n} needs {} readings; the feed has {} (raise --sensors or --hours)",
        2 * n,
        readings.len()
    );
    let (batched, single) = (&readings[..n], &readings[n..2 * n]);
    let started = Instant::now();
    store.upsert(batched).await?;
    let batched_rate = rate(n, started.elapsed().as_secs_f64());
    let started = Instant::now();
    store.put_one_by_one(single).await?;
    let single_rate = rate(n, started.elapsed().as_secs_f64());
    println!(
        "dynamodb {table}, batched upsert (BatchWriteItem of 25, {} in flight): {n} readings at {batched_rate:.0} readings/s",
        args.in_flight
    );
    println!(
        "dynamodb {table}, one PutItem per reading: {n} readings at {single_rate:.0} readings/s"
    );
    println!(
        "ratio batched / one-by-one: {:.1}x",
        batched_rate / single_rate
    );
    Ok(())
}

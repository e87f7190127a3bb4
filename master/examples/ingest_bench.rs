//! Ingest rate into a store, for `docs/benchmarks.md`.
//!
//! SQLite:   `cargo run --release -p airq-master --example ingest_bench -- --store sqlite`
//! DynamoDB: `cargo run --release -p airq-master --example ingest_bench -- --store dynamodb --compare-one-by-one 2000`
//!           with `AWS_ENDPOINT_URL` (and dummy credentials) pointing at an emulator; see docs/benchmarks.md.
//!
//! The feed is synthetic (airq_common::synth), parsed once up front so that only the store's writes are timed.

use std::time::Instant;

use airq_common::feed::FeedReader;
use airq_common::store::dynamodb::{DynamoStore, WriteOptions};
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::synth::{feed_bytes, SynthConfig};
use airq_common::Reading;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn timed(store: &dyn ReadingStore, readings: &[Reading], batch: usize) -> f64 {
    let started = Instant::now();
    for chunk in readings.chunks(batch) {
        store.upsert(chunk).await.expect("upsert");
    }
    started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let backend = arg("--store").unwrap_or_else(|| "sqlite".into());
    let sensors: usize = arg("--sensors")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let hours: u32 = arg("--hours").and_then(|v| v.parse().ok()).unwrap_or(5);
    let cfg = SynthConfig {
        sensors,
        hours,
        ..SynthConfig::default()
    };
    let feed = feed_bytes(&cfg);
    let readings: Vec<Reading> = FeedReader::new(&feed[..]).collect();
    println!(
        "synthetic feed: {} records, {} readings, {:.1} MB",
        cfg.records(),
        readings.len(),
        feed.len() as f64 / 1e6
    );
    match backend.as_str() {
        "sqlite" => {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SqliteStore::open(dir.path().join("bench.db").to_str().expect("utf8"))
                .expect("open");
            let batch: usize = arg("--batch")
                .and_then(|v| v.parse().ok())
                .unwrap_or(20_000);
            let secs = timed(&store, &readings, batch).await;
            println!(
                "sqlite: {} readings in {secs:.3} s = {:.0} readings/s (batches of {batch})",
                readings.len(),
                readings.len() as f64 / secs
            );
            let again = timed(&store, &readings, batch).await;
            println!(
                "sqlite, same readings again (idempotent upsert): {:.0} readings/s",
                readings.len() as f64 / again
            );
        }
        "dynamodb" => {
            let n: usize = arg("--compare-one-by-one")
                .and_then(|v| v.parse().ok())
                .unwrap_or(2000);
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            let table = format!("bench-{}", std::process::id());
            let in_flight: usize = arg("--in-flight").and_then(|v| v.parse().ok()).unwrap_or(4);
            let options = WriteOptions {
                batches_in_flight: in_flight,
                ..WriteOptions::default()
            };
            let store = DynamoStore::new(&config, &table, options).expect("store");
            store.ensure_table().await.expect("table");
            let (batched, single) = readings.split_at(n.min(readings.len() / 2));
            let single = &single[..n.min(single.len())];
            let started = Instant::now();
            store.upsert(batched).await.expect("batched");
            let batched_rate = batched.len() as f64 / started.elapsed().as_secs_f64();
            let started = Instant::now();
            store.put_one_by_one(single).await.expect("one by one");
            let single_rate = single.len() as f64 / started.elapsed().as_secs_f64();
            println!(
                "dynamodb (emulator) batched: {} readings at {batched_rate:.0} readings/s",
                batched.len()
            );
            println!("dynamodb (emulator) one PutItem per reading: {} readings at {single_rate:.0} readings/s", single.len());
            println!(
                "ratio batched / one-by-one: {:.1}x",
                batched_rate / single_rate
            );
        }
        other => eprintln!("unknown --store {other}; use sqlite or dynamodb"),
    }
}

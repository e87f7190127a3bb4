//! Parse + index throughput of the feed reader on one core, over a synthetic feed shaped like the real one
//! (`airq_common::synth`): element scan, serde, the rules, the DAQI index, one `Reading` per kept record.
//!
//! `cargo bench -p airq-common --bench parse`
//!
//! Two groups over the same work, so that criterion reports both MB/s (`feed-bytes`) and records/s
//! (`feed-records`).

use std::time::Duration;

use airq_common::feed::FeedReader;
use airq_common::synth::{feed_bytes, SynthConfig};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

/// Parses the whole feed; returns the readings kept, so the work cannot be optimised away.
fn parse_all(feed: &[u8]) -> usize {
    let mut reader = FeedReader::new(feed);
    let n = reader.by_ref().count();
    assert!(reader.damage().is_none());
    n
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
}

fn parse(c: &mut Criterion) {
    // 2,000 sensors × 5 hours at 5-minute intervals = 120,000 records (~54 MB), generated once.
    let cfg = SynthConfig {
        sensors: 2000,
        hours: 5,
        ..SynthConfig::default()
    };
    let feed = feed_bytes(&cfg);
    let records = cfg.records();
    assert!(records >= 100_000);
    eprintln!(
        "feed: {records} records, {} bytes, {} readings",
        feed.len(),
        parse_all(&feed)
    );

    let mut bytes = c.benchmark_group("feed-bytes");
    configure(&mut bytes);
    bytes.throughput(Throughput::Bytes(feed.len() as u64));
    bytes.bench_function("parse+index", |b| b.iter(|| parse_all(&feed)));
    bytes.finish();

    let mut elements = c.benchmark_group("feed-records");
    configure(&mut elements);
    elements.throughput(Throughput::Elements(records));
    elements.bench_function("parse+index", |b| b.iter(|| parse_all(&feed)));
    elements.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);

//! Parse + index throughput of the feed reader on one core, over a synthetic feed shaped like the real one.
//!
//! `cargo bench -p airq-common --bench parse`

use airq_common::feed::FeedReader;
use airq_common::synth::{feed_bytes, SynthConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn parse(c: &mut Criterion) {
    // 2,000 sensors × 5 hours at 5-minute intervals = 120,000 records (~53 MB).
    let cfg = SynthConfig {
        sensors: 2000,
        hours: 5,
        ..SynthConfig::default()
    };
    let feed = feed_bytes(&cfg);
    let records = cfg.records();
    let run = |feed: &[u8]| {
        let mut reader = FeedReader::new(feed);
        let n = reader.by_ref().count();
        assert!(reader.damage().is_none());
        n
    };
    let mut group = c.benchmark_group("feed");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(8));
    group.throughput(Throughput::Bytes(feed.len() as u64));
    group.bench_function("parse+index bytes", |b| b.iter(|| run(&feed)));
    group.throughput(Throughput::Elements(records));
    group.bench_function("parse+index records", |b| b.iter(|| run(&feed)));
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);

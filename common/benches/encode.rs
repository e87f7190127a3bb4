//! The answer encoders alone, on one core (issue 13): rows per second for each format, from borrowed rows
//! (`RowRef`: what the SQLite store hands the encoder, no `Reading` built), beside the CSV writer airq used
//! before (`csv_out`: the csv crate with a `String` per cell, from `Reading`s); and a readings answer read from a
//! real SQLite file and encoded, through `Reading`s and straight from the rows, and one country's window from the
//! covering country index.
//!
//! `cargo bench -p airq-common --bench encode`

use std::sync::Arc;
use std::time::Duration;

use airq_common::answer::rows::{write_reading, RowRef, LEGACY_COLUMNS, READING_COLUMNS};
use airq_common::answer::{answer, answer_pages, Ask, Encoder, Format};
use airq_common::csv_out::{encode_rows, CsvEncoder};
use airq_common::index::IndexKind;
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::testing::fixtures::{readings, T0};
use airq_common::Query;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures::stream::BoxStream;
use futures::TryStreamExt;

const ROWS: usize = 20_000;

/// `ROWS` distinct readings (the fixtures repeat (sensor, time) keys, which a store keeps once).
fn data() -> Vec<airq_common::Reading> {
    let mut data = readings(ROWS, 24);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = i as u64;
    }
    data
}

/// [`data`] with numbers shaped like the feed's (`20.4`, `48.7758`, `241`): what a store holds.
fn feed_like() -> Vec<airq_common::Reading> {
    let round = |v: Option<f64>, places: i32| {
        let scale = 10f64.powi(places);
        v.map(|v| (v * scale).round() / scale)
    };
    let mut data = data();
    for r in &mut data {
        r.latitude = round(r.latitude, 4);
        r.longitude = round(r.longitude, 4);
        r.altitude = round(r.altitude, 0);
        r.pm10 = round(r.pm10, 1);
        r.pm25 = round(r.pm25, 2);
    }
    data
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
}

fn encoders(c: &mut Criterion) {
    let data = data();
    let mut group = c.benchmark_group("encode");
    configure(&mut group);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("csv-crate-from-readings (before)", |b| {
        let mut encoder = CsvEncoder::new();
        b.iter(|| encode_rows(&mut encoder, &data).len())
    });
    for format in Format::ALL {
        let columns = if format == Format::LegacyCsv {
            LEGACY_COLUMNS
        } else {
            READING_COLUMNS
        };
        group.bench_function(format.as_str(), |b| {
            let mut out = Vec::with_capacity(8 << 20);
            b.iter(|| {
                out.clear();
                let mut encoder = Encoder::new(format, columns);
                encoder.begin(&mut out);
                for r in &data {
                    write_reading(&mut encoder, &mut out, &RowRef::from(r), IndexKind::Daqi);
                }
                encoder.end(&mut out);
                out.len()
            })
        });
    }
    group.finish();
}

/// Reads a whole answer; its length.
async fn answer_bytes(chunks: BoxStream<'static, airq_common::answer::Chunk>) -> usize {
    let chunks: Vec<bytes::Bytes> = chunks.try_collect().await.expect("answer");
    chunks.iter().map(|c| c.len()).sum()
}

fn from_sqlite(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    let store: Arc<dyn ReadingStore> =
        Arc::new(SqliteStore::open(path.to_str().expect("utf8")).expect("open"));
    let data = feed_like();
    runtime.block_on(store.upsert(&data)).expect("upsert");
    assert_eq!(runtime.block_on(store.count()).expect("count"), ROWS as u64);
    let query = Query::window(T0, T0 + 24 * 3600).expect("valid");
    let ask = Ask::default();
    let mut group = c.benchmark_group("sqlite-answer");
    configure(&mut group);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("through Readings", |b| {
        b.iter(|| {
            runtime.block_on(answer_bytes(answer_pages(
                store.query(&query, 2000),
                &query,
                ask,
            )))
        })
    });
    group.bench_function("straight from rows", |b| {
        b.iter(|| runtime.block_on(answer_bytes(answer(&store, &query, ask, 2000))))
    });
    group.finish();

    // The direct path's common case: one country's window, read from the covering country index.
    let by_country = airq_common::query::QueryFields {
        country: Some(data[0].country.clone()),
        ..query.to_fields()
    }
    .validate()
    .expect("valid");
    let matching = data.iter().filter(|r| r.country == data[0].country).count();
    let mut group = c.benchmark_group("sqlite-answer-country");
    configure(&mut group);
    group.throughput(Throughput::Elements(matching as u64));
    group.bench_function("straight from rows", |b| {
        b.iter(|| runtime.block_on(answer_bytes(answer(&store, &by_country, ask, 2000))))
    });
    group.finish();
}

criterion_group!(benches, encoders, from_sqlite);
criterion_main!(benches);

//! The DynamoDB store on the local emulator: conformance, and proof from DynamoDB's own `ScannedCount` that a
//! selective query reads its answer's partition, not the table.

use std::num::NonZeroU32;
use std::sync::Arc;

use airq_common::query::QueryFields;
use airq_common::store::dynamodb::{create_table, DynamoStore, WriteOptions};
use airq_common::store::{collect, ReadingStore};
use airq_common::testing::emulator::{unique_name, Emulator};
use airq_common::testing::fixtures::{expected, readings, T0};
use airq_common::time::hour_bucket;
use airq_common::Query;
use futures::StreamExt;

async fn store_with(options: WriteOptions) -> DynamoStore {
    let config = Emulator::shared().sdk_config().await;
    let store = DynamoStore::new(&config, &unique_name("readings"), options).expect("store");
    store.ensure_table().await.expect("create table");
    store
}

/// One batch in flight: moto loses an item now and then when concurrent `BatchWriteItem`s create the same new
/// partition at once (a check-then-set race in its in-memory table: CI once counted 1,596 of 1,600 items, with
/// no unprocessed item reported). DynamoDB itself has no such race; the concurrent path is exercised by
/// `batched_and_concurrent_writes_store_everything` below, which tolerates nothing either but writes to
/// partitions created beforehand.
fn emulator_writes() -> WriteOptions {
    WriteOptions {
        batches_in_flight: 1,
        ..WriteOptions::default()
    }
}

async fn fresh() -> Arc<dyn ReadingStore> {
    Arc::new(store_with(emulator_writes()).await)
}

airq_common::store_conformance_tests!(fresh());

fn window(start: i64, end: i64, country: Option<&str>) -> Query {
    QueryFields {
        country: country.map(str::to_string),
        ..Query::window(start, end).expect("valid").to_fields()
    }
    .validate()
    .expect("valid")
}

/// Sums DynamoDB's ScannedCount over a query's pages.
async fn scanned(store: &DynamoStore, q: &Query) -> (u64, usize) {
    let mut pages = store.query(q, 100);
    let (mut scanned, mut returned) = (0, 0);
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        scanned += page.scanned.expect("dynamodb reports ScannedCount");
        returned += page.readings.len();
    }
    (scanned, returned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selective_query_reads_its_partition_not_the_table() {
    let store = store_with(emulator_writes()).await;
    // Distinct sensors so every reading is its own item: 8 hours, four countries (one of them none).
    let mut data = readings(1600, 8);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 50_000 + i as u64;
    }
    store.upsert(&data).await.expect("upsert");
    let total = store.count().await.expect("count");
    assert_eq!(total, 1600);

    let hour = T0 + 3 * 3600;
    let in_hour = |r: &&airq_common::Reading| hour_bucket(r.timestamp) == hour_bucket(hour);
    let de_items = data
        .iter()
        .filter(in_hour)
        .filter(|r| r.country == "DE")
        .count() as u64;
    let hour_items = data.iter().filter(in_hour).count() as u64;
    assert!(de_items > 0 && hour_items > de_items);

    let de = window(hour, hour + 3599, Some("DE"));
    let (scanned_de, returned_de) = scanned(&store, &de).await;
    assert_eq!(returned_de, expected(&data, &de).len());
    assert_eq!(
        scanned_de, de_items,
        "read exactly the DE items of that hour"
    );
    assert!(scanned_de * 10 < total, "{scanned_de} of {total}");

    let all = window(hour, hour + 3599, None);
    let (scanned_all, returned_all) = scanned(&store, &all).await;
    assert_eq!(returned_all as u64, hour_items);
    assert_eq!(scanned_all, hour_items, "read exactly that hour's items");

    // A filter on band or index does not change what is read, only what is returned.
    let band = QueryFields {
        band: Some(airq_common::Band::High as u8),
        ..de.to_fields()
    }
    .validate()
    .expect("valid");
    let (scanned_band, returned_band) = scanned(&store, &band).await;
    assert_eq!(scanned_band, de_items);
    assert_eq!(returned_band, expected(&data, &band).len());

    // A window far wider than the data does not walk empty hours: the bounds item clamps it.
    let years = window(0, T0 + 86_400 * 3650, Some("NL"));
    let answer = collect(store.query(&years, 500)).await.expect("query");
    assert_eq!(answer, expected(&data, &years));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_respect_a_rate_cap() {
    let options = WriteOptions {
        max_writes_per_second: NonZeroU32::new(400),
        batches_in_flight: 2,
    };
    let store = store_with(options).await;
    let mut data = readings(300, 2);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 70_000 + i as u64;
    }
    assert_eq!(store.upsert(&data).await.expect("upsert"), 300);
    assert_eq!(store.count().await.expect("count"), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_the_table_twice_is_fine() {
    let config = Emulator::shared().sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = unique_name("twice");
    create_table(&client, &name).await.expect("first");
    create_table(&client, &name).await.expect("second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_by_one_puts_store_the_same_readings() {
    let store = store_with(WriteOptions::default()).await;
    let data = readings(30, 1);
    store.put_one_by_one(&data).await.expect("puts");
    let q = window(T0, T0 + 3600, None);
    assert_eq!(
        collect(store.query(&q, 7)).await.expect("query"),
        expected(&data, &q)
    );
}

/// Four batches in flight store every reading, once the partitions they write exist (see [`emulator_writes`]
/// for why they are created first on the emulator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_and_concurrent_writes_store_everything() {
    let store = store_with(WriteOptions::default()).await;
    let mut data = readings(1200, 6);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 70_000 + i as u64;
    }
    // One reading per partition first, one batch at a time.
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<_> = data
        .iter()
        .filter(|r| seen.insert((hour_bucket(r.timestamp), r.country.clone())))
        .cloned()
        .collect();
    for first in &firsts {
        store
            .upsert(std::slice::from_ref(first))
            .await
            .expect("seed");
    }
    assert_eq!(
        store.upsert(&data).await.expect("upsert"),
        data.len() as u64
    );
    assert_eq!(store.count().await.expect("count"), data.len() as u64);
}

/// Many sensors (80) and locations (40) over eight hours, every reading its own item, most with an id.
fn keyed_data() -> Vec<airq_common::Reading> {
    let mut data = readings(1600, 8);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 60_000 + (i % 80) as u64;
        r.location_id = r.location_id.map(|_| 900 + (i % 40) as u64);
    }
    data
}

fn params(pairs: &[(&str, &str)]) -> Query {
    Query::from_params(pairs.iter().copied()).expect("valid")
}

/// Issue 12: a keyed query reads its keys' index partitions, not the window's hour partitions. DynamoDB's own
/// `ScannedCount` (items the key condition read, before any filter) proves it: a sensor's history over all
/// time reads that sensor's items and nothing else, a reading by id reads one item, a location its items. A
/// place (no key) reads the window's hour partitions, as `docs/architecture.md` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_queries_read_their_keys_not_the_window() {
    let store = store_with(emulator_writes()).await;
    let data = keyed_data();
    store.upsert(&data).await.expect("upsert");
    let total = store.count().await.expect("count");
    assert!(total > 1400, "{total} items");

    // A sensor's history, all time (no start or end: the window is `ALL_TIME`).
    let history = params(&[("sensor_id", "60007")]);
    let want = expected(&data, &history).len();
    let (read, returned) = scanned(&store, &history).await;
    assert_eq!(returned, want);
    assert!(want >= 15, "{want}");
    assert_eq!(
        read, want as u64,
        "read exactly the sensor's items, of {total}"
    );

    // Two sensors in a window of two hours, merged in answer order.
    let two = params(&[
        ("sensor_id", "60003,60041"),
        ("start", "2019-04-16T14:00:00Z"),
        ("end", "2019-04-16T15:59:59Z"),
    ]);
    let answer = collect(store.query(&two, 3)).await.expect("query");
    assert_eq!(answer, expected(&data, &two));
    let (read, returned) = scanned(&store, &two).await;
    assert_eq!((read, returned), (answer.len() as u64, answer.len()));

    // Filters that are not the key (sensor type, another index) narrow the answer, not what is read.
    let typed = params(&[("sensor_id", "60007"), ("sensor_type", "pms7003")]);
    let (read, returned) = scanned(&store, &typed).await;
    assert_eq!(returned, expected(&data, &typed).len());
    assert!(returned < want);
    assert_eq!(read, want as u64);

    // A reading by id: one item read. An id nobody has: nothing read.
    let stored_ids: Vec<u64> = expected(&data, &Query::window(0, i64::MAX / 2).expect("valid"))
        .into_iter()
        .filter_map(|r| r.id)
        .collect();
    let (with_id, other_id) = (stored_ids[0], stored_ids[stored_ids.len() / 2]);
    let by_id = params(&[("id", &with_id.to_string())]);
    assert_eq!(scanned(&store, &by_id).await, (1, 1));
    assert_eq!(scanned(&store, &params(&[("id", "1")])).await, (0, 0));
    let ids = params(&[("id", &format!("{with_id},1,{other_id}"))]);
    let (read, returned) = scanned(&store, &ids).await;
    assert_eq!(returned, expected(&data, &ids).len());
    assert_eq!((read, returned), (2, 2));

    // A location: its items only (readings without a location are in no `by_location` partition).
    let location = params(&[("location_id", "905")]);
    let (read, returned) = scanned(&store, &location).await;
    assert_eq!(returned, expected(&data, &location).len());
    assert!(returned > 0);
    assert_eq!(read, returned as u64);

    // A place alone reads its window's hour partitions: every item of those hours, whatever the answer.
    let place = params(&[
        ("bbox", "8.0,48.2,9.4,48.9"),
        ("start", "2019-04-16T14:00:00Z"),
        ("end", "2019-04-16T15:59:59Z"),
    ]);
    let in_window = expected(
        &data,
        &params(&[
            ("start", "2019-04-16T14:00:00Z"),
            ("end", "2019-04-16T15:59:59Z"),
        ]),
    );
    let (read, returned) = scanned(&store, &place).await;
    assert_eq!(returned, expected(&data, &place).len());
    assert!(returned < in_window.len());
    assert_eq!(read, in_window.len() as u64);
}

/// A table made before the key indexes existed (only `by_country_hour`) gets them from `ensure_table`, one at
/// a time, and keyed queries then read through them (the readings already stored included: the index is
/// backfilled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_table_adds_the_indexes_an_old_table_lacks() {
    use airq_common::store::dynamodb::{CH, COUNTRY_INDEX, INDEXES, PK, SK};
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement,
        KeyType, Projection, ProjectionType, ScalarAttributeType,
    };
    let config = Emulator::shared().sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = unique_name("old");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, k: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(k)
            .build()
            .expect("key")
    };
    let country = GlobalSecondaryIndex::builder()
        .index_name(COUNTRY_INDEX)
        .key_schema(key(CH, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("index");
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK))
        .attribute_definitions(attr(SK))
        .attribute_definitions(attr(CH))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .global_secondary_indexes(country)
        .send()
        .await
        .expect("the old table");
    let store = DynamoStore::new(&config, &name, emulator_writes()).expect("store");
    let data = keyed_data();
    store.upsert(&data).await.expect("upsert");

    store.ensure_table().await.expect("indexes added");
    let described = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe");
    let indexes = described
        .table()
        .map(|t| t.global_secondary_indexes().to_vec())
        .unwrap_or_default();
    for def in &INDEXES {
        let index = indexes
            .iter()
            .find(|i| i.index_name() == Some(def.name))
            .expect(def.name);
        assert_eq!(
            index.index_status(),
            Some(&IndexStatus::Active),
            "{}",
            def.name
        );
    }
    let definitions = described
        .table()
        .map(|t| t.attribute_definitions().len())
        .unwrap_or_default();
    assert_eq!(definitions, 6, "pk, sk, ch, sensor_id, location_id, id");
    // Nothing left to add: a second call writes nothing and succeeds.
    store.ensure_table().await.expect("again");

    let history = params(&[("sensor_id", "60011")]);
    let (read, returned) = scanned(&store, &history).await;
    assert_eq!(returned, expected(&data, &history).len());
    assert_eq!(read, returned as u64);
    let location = params(&[("location_id", "917"), ("sensor_type", "SDS011")]);
    assert_eq!(
        collect(store.query(&location, 5)).await.expect("query"),
        expected(&data, &location)
    );
}

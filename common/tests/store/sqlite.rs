//! The SQLite store: conformance, persistence across opens, and index use.

use std::sync::Arc;

use airq_common::query::QueryFields;
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::testing::fixtures::{readings, T0};
use airq_common::Query;
use futures::StreamExt;

/// A fresh store in its own temporary directory, which goes when the test ends; each test gets its own file.
async fn fresh() -> Arc<dyn ReadingStore> {
    let dir = crate::scratch::dir();
    let path = dir.join("nested").join("airq.db");
    Arc::new(SqliteStore::open(path.to_str().expect("utf8 path")).expect("open"))
}

airq_common::store_conformance_tests!(fresh());

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("airq.db");
    let path = path.to_str().expect("utf8");
    let data = readings(30, 1);
    SqliteStore::open(path)
        .expect("open")
        .upsert(&data)
        .await
        .expect("upsert");
    let again = SqliteStore::open(path).expect("reopen");
    assert_eq!(again.count().await.expect("count"), 30);
}

fn window(country: Option<&str>) -> Query {
    QueryFields {
        country: country.map(str::to_string),
        ..Query::window(T0, T0 + 3600).expect("valid").to_fields()
    }
    .validate()
    .expect("valid")
}

#[tokio::test]
async fn queries_search_an_index_in_answer_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open(dir.path().join("airq.db").to_str().expect("utf8")).expect("open");
    store.upsert(&readings(500, 24)).await.expect("upsert");
    for (q, index) in [
        (window(None), "INDEX readings_by_time"),
        // Issue 13: covering, so a country's window never reads the table.
        (window(Some("DE")), "COVERING INDEX readings_by_country"),
    ] {
        let plan = store.explain(&q).expect("plan").join("\n");
        assert!(
            plan.contains(&format!("SEARCH readings USING {index}")),
            "{plan}"
        );
        assert!(!plan.contains("SCAN"), "a table scan: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "a sort: {plan}");
    }
}

/// Issue 12: each new filter reads through an index in proportion to its answer: a reading by id, a sensor's
/// history (the primary key), a location's, and a place (its sensors from `sensor_places`, then their
/// histories). Only the id lookup sorts, and at most `MAX_LIST` rows.
#[tokio::test]
async fn key_and_place_queries_search_an_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open(dir.path().join("airq.db").to_str().expect("utf8")).expect("open");
    store.upsert(&readings(500, 24)).await.expect("upsert");
    let w = [
        ("start", "2019-04-16T12:00:00Z"),
        ("end", "2019-04-17T12:00:00Z"),
    ];
    // (the query's parameters, what its plan must say)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (vec![("id", "3379485920")], &["USING INDEX readings_by_id"]),
        (
            vec![("sensor_id", "1003,1004"), w[0], w[1]],
            &["USING PRIMARY KEY (sensor_id=? AND timestamp>? AND timestamp<?)"],
        ),
        (
            vec![("location_id", "1205")],
            &["USING INDEX readings_by_location (location_id=? AND timestamp>? AND timestamp<?)"],
        ),
        (
            vec![w[0], w[1], ("near", "48.2,9.0,15")],
            &[
                "SEARCH sensor_places USING PRIMARY KEY (latitude>? AND latitude<?)",
                "USING PRIMARY KEY (sensor_id=?",
            ],
        ),
        (
            vec![
                w[0],
                w[1],
                ("bbox", "8.5,48.0,9.4,48.3"),
                ("sensor_type", "SDS011"),
            ],
            &["SEARCH sensor_places", "USING PRIMARY KEY (sensor_id=?"],
        ),
    ];
    for (params, wanted) in cases {
        let q = Query::from_params(params.iter().copied()).expect("valid");
        let plan = store.explain(&q).expect("plan").join("\n");
        for want in wanted {
            assert!(plan.contains(want), "{params:?}: {want} not in\n{plan}");
        }
        assert!(!plan.contains("SCAN"), "a scan for {params:?}: {plan}");
        if q.ids.is_empty() {
            // (The DISTINCT over the small sensor_places range is not a sort of readings.)
            assert!(
                !plan.contains("TEMP B-TREE FOR ORDER BY"),
                "a sort for {params:?}: {plan}"
            );
        }
    }
}

#[tokio::test]
async fn an_unwritable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let err = SqliteStore::open(file.join("airq.db").to_str().expect("utf8"))
        .err()
        .expect("error");
    assert!(err.to_string().contains("a-file"), "{err}");
}

/// Answers that nobody reads hold no pooled connection: with more stalled answers than the pool has
/// connections (a slow client that stopped reading, per answer), other work still gets a connection at once.
/// (Before keyset paging, each stalled answer's producer held its connection while its channel was full, and
/// the pool of 8 was gone: the count below waited 30 s for a connection and failed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_answers_hold_no_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open(dir.path().join("airq.db").to_str().expect("utf8")).expect("open");
    let data = readings(400, 6);
    store.upsert(&data).await.expect("upsert");
    let everything = Query::window(T0, T0 + 6 * 3600).expect("valid");
    let mut stalled = Vec::new();
    for _ in 0..12 {
        let mut pages = store.query(&everything, 10);
        if let Err(e) = pages.next().await.expect("a page") {
            panic!("first page: {e}");
        }
        stalled.push(pages); // read one page, then stop reading
    }
    let count = tokio::time::timeout(std::time::Duration::from_secs(5), store.count())
        .await
        .expect("a connection is free at once")
        .expect("count");
    assert_eq!(count, data.len() as u64);
    // And a stalled answer resumes where it stopped.
    let mut rest = 10;
    for mut pages in stalled.drain(..1) {
        while let Some(page) = pages.next().await {
            rest += page.expect("page").readings.len();
        }
    }
    assert_eq!(rest, data.len());
}

/// A store file moved away, or replaced at its path, is reported by the readiness check instead of being served
/// from the unlinked inode while every new process opens another file (issue 10, finding 8: before, `check`
/// stayed Ok in both cases).
#[tokio::test]
async fn a_store_file_removed_or_replaced_is_noticed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("airq.db");
    let path = path.to_str().expect("utf8");
    let store = SqliteStore::open(path).expect("open");
    store.check().await.expect("ready");
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{path}{suffix}");
        if std::path::Path::new(&from).exists() {
            std::fs::rename(&from, format!("{path}.moved{suffix}")).expect("move");
        }
    }
    let removed = store.check().await.expect_err("moved away");
    assert!(removed.to_string().contains("removed"), "{removed}");
    let _other = SqliteStore::open(path).expect("a new file at the path");
    let replaced = store.check().await.expect_err("replaced");
    assert!(replaced.to_string().contains("replaced"), "{replaced}");
}

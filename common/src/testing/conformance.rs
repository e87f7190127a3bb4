//! The `ReadingStore` conformance suite: the same cases, with the same expected answers, for every backend.
//!
//! A backend's test file invokes [`store_conformance_tests!`](crate::store_conformance_tests) with an async
//! expression that yields a fresh, empty store; each case then becomes its own `#[tokio::test]`.

use std::sync::Arc;

use futures::StreamExt;

use super::fixtures::{expected, readings, T0};
use crate::index::Band;
use crate::query::{Query, QueryFields};
use crate::reading::Reading;
use crate::store::{collect, Page, PageStream, ReadingStore};

fn query(start: i64, end: i64) -> Query {
    Query::window(start, end).expect("valid window")
}

async fn collect_pages(pages: PageStream) -> Vec<Page> {
    futures::TryStreamExt::try_collect(pages)
        .await
        .expect("query")
}

async fn answer(store: &Arc<dyn ReadingStore>, q: &Query) -> Vec<Reading> {
    collect(store.query(q, 1000)).await.expect("query")
}

/// An empty store counts 0 and answers nothing (an empty answer, not an error).
pub async fn empty_store(store: Arc<dyn ReadingStore>) {
    store.check().await.expect("check");
    assert_eq!(store.count().await.expect("count"), 0);
    assert!(answer(&store, &query(0, i64::from(i32::MAX)))
        .await
        .is_empty());
}

/// The status a store gives: its time bounds and size (exact, or an approximation flagged as such), and the
/// ingest notes the master leaves (the last run, and the last complete one, kept apart).
pub async fn status_and_ingest_notes(store: Arc<dyn ReadingStore>) {
    use crate::store::IngestNote;
    let empty = store.stats().await.expect("stats");
    assert_eq!((empty.oldest, empty.newest), (None, None));
    if !empty.approximate {
        assert_eq!(empty.readings, 0);
    }
    let data = readings(50, 4);
    store.upsert(&data).await.expect("upsert");
    let stats = store.stats().await.expect("stats");
    let times: Vec<i64> = data.iter().map(|r| r.timestamp).collect();
    assert_eq!(stats.oldest, times.iter().min().copied());
    assert_eq!(stats.newest, times.iter().max().copied());
    if !stats.approximate {
        assert_eq!(stats.readings, store.count().await.expect("count"));
    }

    let none = store.ingest_notes().await.expect("notes");
    assert_eq!((none.last, none.last_complete), (None, None));
    let note = |at: i64, complete: bool| IngestNote {
        finished_ms: at,
        complete,
        summary: serde_json::json!({"readings_written": at, "damage": []}),
    };
    store.note_ingest(&note(1000, true)).await.expect("note");
    store.note_ingest(&note(2000, false)).await.expect("note");
    let notes = store.ingest_notes().await.expect("notes");
    assert_eq!(notes.last, Some(note(2000, false)));
    assert_eq!(
        notes.last_complete,
        Some(note(1000, true)),
        "a damaged run does not hide the last good one"
    );
    store.note_ingest(&note(3000, true)).await.expect("note");
    let notes = store.ingest_notes().await.expect("notes");
    assert_eq!(notes.last, Some(note(3000, true)));
    assert_eq!(notes.last_complete, Some(note(3000, true)));
    assert_eq!(
        store.count().await.expect("count"),
        expected(&data, &query(i64::MIN, i64::MAX)).len() as u64,
        "notes are not readings"
    );
}

/// Values written come back exactly, missing values stay missing.
pub async fn round_trip(store: Arc<dyn ReadingStore>) {
    let data = readings(60, 3);
    assert_eq!(store.upsert(&data).await.expect("upsert"), 60);
    let q = query(T0 - 1, T0 + 10 * 3600);
    assert_eq!(answer(&store, &q).await, expected(&data, &q));
}

/// Writing the same readings twice changes nothing; a later write of the same key wins.
pub async fn upsert_is_idempotent(store: Arc<dyn ReadingStore>) {
    let data = readings(80, 2);
    let distinct = expected(&data, &query(i64::MIN, i64::MAX)).len() as u64;
    store.upsert(&data).await.expect("first");
    store.upsert(&data).await.expect("second");
    assert_eq!(store.count().await.expect("count"), distinct);

    let mut changed = data[5].clone();
    changed.pm25 = Some(80.0);
    changed.pm10 = None;
    changed.aqi = 10;
    changed.band = Band::VeryHigh;
    changed.country = "FR".into();
    store
        .upsert(std::slice::from_ref(&changed))
        .await
        .expect("update");
    assert_eq!(store.count().await.expect("count"), distinct);
    let mut all = data.clone();
    all.push(changed.clone());
    let q = query(changed.timestamp, changed.timestamp);
    let got = answer(&store, &q).await;
    assert_eq!(got, expected(&all, &q));
    assert!(got.contains(&changed));
}

/// Every filter, alone and combined, answers what `Query::matches` says, in (timestamp, sensor_id) order.
pub async fn filters_match_the_reference(store: Arc<dyn ReadingStore>) {
    let data = readings(400, 6);
    store.upsert(&data).await.expect("upsert");
    let all = query(T0, T0 + 6 * 3600);
    let mut cases = vec![
        all.clone(),
        QueryFields {
            country: Some("DE".into()),
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        QueryFields {
            country: Some("nl".into()),
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        QueryFields {
            country: Some("US".into()),
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        QueryFields {
            band: Some(Band::Moderate as u8),
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        QueryFields {
            band: Some(Band::VeryHigh as u8),
            country: Some("GB".into()),
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        QueryFields {
            min_aqi: 4,
            max_aqi: 7,
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        QueryFields {
            min_aqi: 10,
            max_aqi: 10,
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        QueryFields {
            min_aqi: 0,
            max_aqi: 0,
            ..all.to_fields()
        }
        .validate()
        .expect("valid"),
        query(T0 + 3600 + 600, T0 + 3 * 3600 - 60),
        QueryFields {
            country: Some("DE".into()),
            min_aqi: 2,
            max_aqi: 5,
            ..query(T0 + 1800, T0 + 5 * 3600 + 1).to_fields()
        }
        .validate()
        .expect("valid"),
    ];
    // Bounds are inclusive: a window of one instant returns the readings at that instant.
    let instant = data[17].timestamp;
    cases.push(query(instant, instant));
    for q in &cases {
        let want = expected(&data, q);
        let got = answer(&store, q).await;
        assert_eq!(got.len(), want.len(), "{q:?}");
        assert_eq!(got, want, "{q:?}");
    }
    assert!(!answer(&store, &query(instant, instant)).await.is_empty());
}

/// The key, place and index filters (issue 12), alone and with the window's, answer what `Query::matches`
/// says, in answer order and in bounded pages, whatever access path the backend takes for them.
pub async fn key_and_place_filters_match_the_reference(store: Arc<dyn ReadingStore>) {
    let data = readings(400, 6);
    store.upsert(&data).await.expect("upsert");
    let ids = format!(
        "{},{},{}",
        3_379_485_919u64 + 5,
        3_379_485_919u64 + 6,
        3_379_485_919u64 + 399
    );
    let window = [
        ("start", "2019-04-16T12:30:00Z"),
        ("end", "2019-04-16T17:00:00Z"),
    ];
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("id", ids.as_str())],
        vec![("id", "1")],
        vec![("sensor_id", "1003")],
        vec![("sensor_id", "1003,1000,1012,999")],
        vec![
            ("sensor_id", "1003,1005"),
            window[0],
            window[1],
            ("sensor_type", "SDS011"),
        ],
        vec![("location_id", "1205,1207")],
        vec![("location_id", "1205"), ("sensor_type", "sds011")],
        vec![window[0], window[1], ("sensor_type", "PMS7003")],
        vec![window[0], window[1], ("bbox", "8.0,48.2,9.4,48.9")],
        vec![
            window[0],
            window[1],
            ("near", "48.5,8.8,30"),
            ("country", "NL"),
        ],
        vec![("sensor_id", "1001,1002"), ("near", "48.5,8.8,60")],
        vec![
            window[0],
            window[1],
            ("index", "us-epa"),
            ("band", "Unhealthy"),
        ],
        vec![
            window[0],
            window[1],
            ("index", "us-epa"),
            ("min_aqi", "60"),
            ("max_aqi", "160"),
        ],
        vec![window[0], window[1], ("index", "eaqi"), ("band", "Poor")],
        vec![("sensor_id", "1004"), ("index", "eaqi"), ("min_aqi", "3")],
    ];
    for params in &cases {
        let q = Query::from_params(params.iter().copied()).expect("valid");
        let want = expected(&data, &q);
        let pages: Vec<_> = collect_pages(store.query(&q, 7)).await;
        assert!(pages.iter().all(|p| p.readings.len() <= 7), "{params:?}");
        let got: Vec<Reading> = pages.into_iter().flat_map(|p| p.readings).collect();
        assert_eq!(got.len(), want.len(), "{params:?}");
        assert_eq!(got, want, "{params:?}");
    }
    // The cases are not vacuous: most find something.
    let found = cases
        .iter()
        .filter(|p| {
            !expected(
                &data,
                &Query::from_params(p.iter().copied()).expect("valid"),
            )
            .is_empty()
        })
        .count();
    let empty: Vec<_> = cases
        .iter()
        .filter(|p| {
            expected(
                &data,
                &Query::from_params(p.iter().copied()).expect("valid"),
            )
            .is_empty()
        })
        .collect();
    assert!(
        found >= cases.len() - 1,
        "{found} of {}: empty {empty:?}",
        cases.len()
    );
}

/// Every question in every format answers over the store what it answers over the reference readings,
/// byte for byte.
pub async fn questions_answer_like_the_reference(store: Arc<dyn ReadingStore>) {
    use crate::answer::{answer, answer_pages, Ask, Every, Format, GroupBy, Question};
    use futures::TryStreamExt;
    let data = readings(300, 5);
    store.upsert(&data).await.expect("upsert");
    let queries = [
        query(T0, T0 + 5 * 3600),
        Query::from_params([("sensor_id", "1003,1004"), ("index", "us-epa")]).expect("valid"),
        Query::from_params([
            ("start", "2019-04-16"),
            ("end", "2019-04-17"),
            ("bbox", "8,48,9.4,49"),
        ])
        .expect("valid"),
    ];
    let questions = [
        Question::Readings,
        Question::Latest,
        Question::Aggregate {
            by: GroupBy::Sensor,
            every: Every::Hour,
        },
        Question::Aggregate {
            by: GroupBy::Country,
            every: Every::Day,
        },
        Question::Aggregate {
            by: GroupBy::Location,
            every: Every::Hour,
        },
    ];
    for q in &queries {
        for question in questions {
            for format in Format::ALL {
                let ask = Ask { question, format };
                if ask.check().is_err() {
                    continue;
                }
                let got: Vec<bytes::Bytes> = answer(&store, q, ask, 50)
                    .try_collect()
                    .await
                    .expect("answer");
                let reference = expected(&data, q);
                let pages = futures::stream::iter([Ok(Page {
                    readings: reference,
                    scanned: None,
                })]);
                let want: Vec<bytes::Bytes> = answer_pages(Box::pin(pages), q, ask)
                    .try_collect()
                    .await
                    .expect("reference");
                assert_eq!(got.concat(), want.concat(), "{q:?} {ask:?}");
            }
        }
    }
}

/// Issue 13: every write makes the data version larger (even a write of readings already stored: the version
/// says "maybe changed", never "same"); reads and ingest notes leave it alone.
pub async fn every_write_bumps_the_data_version(store: Arc<dyn ReadingStore>) {
    let v0 = store.data_version().await.expect("version");
    let data = readings(60, 2);
    store.upsert(&data[..30]).await.expect("upsert");
    let v1 = store.data_version().await.expect("version");
    assert!(v1 > v0, "{v0} -> {v1}");
    let _ = answer(&store, &query(T0, T0 + 7200)).await;
    store.stats().await.expect("stats");
    assert_eq!(
        store.data_version().await.expect("version"),
        v1,
        "reads do not change it"
    );
    store.upsert(&data[30..]).await.expect("upsert");
    let v2 = store.data_version().await.expect("version");
    assert!(v2 > v1, "{v1} -> {v2}");
    store.upsert(&data[..1]).await.expect("again");
    assert!(store.data_version().await.expect("version") > v2);
    assert_eq!(store.upsert(&[]).await.expect("nothing"), 0);
}

/// Readings without a country are stored and returned when no country is asked for.
pub async fn readings_without_country(store: Arc<dyn ReadingStore>) {
    let data = readings(50, 1);
    assert!(data.iter().any(|r| r.country.is_empty()));
    store.upsert(&data).await.expect("upsert");
    let q = query(T0, T0 + 3600);
    let got = answer(&store, &q).await;
    assert_eq!(
        got.iter().filter(|r| r.country.is_empty()).count(),
        data.iter().filter(|r| r.country.is_empty()).count()
    );
}

/// Pages hold at most `page_size` readings and together make the whole answer in order.
pub async fn pages_are_bounded_and_complete(store: Arc<dyn ReadingStore>) {
    let data = readings(230, 4);
    store.upsert(&data).await.expect("upsert");
    let q = query(T0, T0 + 4 * 3600);
    let mut pages = store.query(&q, 7);
    let mut all = Vec::new();
    let mut num_pages = 0;
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        assert!(page.readings.len() <= 7, "page of {}", page.readings.len());
        all.extend(page.readings);
        num_pages += 1;
    }
    assert!(num_pages >= 230 / 7, "{num_pages} pages");
    assert_eq!(all, expected(&data, &q));
}

/// A batch far larger than any backend's request limit is written whole.
pub async fn large_batches(store: Arc<dyn ReadingStore>) {
    let data = readings(1200, 24);
    let distinct = expected(&data, &query(i64::MIN, i64::MAX)).len() as u64;
    store.upsert(&data).await.expect("upsert");
    assert_eq!(store.count().await.expect("count"), distinct);
    let q = query(T0 + 3 * 3600, T0 + 20 * 3600);
    assert_eq!(answer(&store, &q).await, expected(&data, &q));
}

/// A window that holds no readings, and a window entirely outside the data, answer nothing.
pub async fn windows_without_data(store: Arc<dyn ReadingStore>) {
    let data = readings(40, 1);
    store.upsert(&data).await.expect("upsert");
    assert!(answer(&store, &query(T0 - 7200, T0 - 1)).await.is_empty());
    assert!(answer(&store, &query(T0 + 86_400 * 30, T0 + 86_400 * 31))
        .await
        .is_empty());
}

/// Generates one `#[tokio::test]` per conformance case. `$make` is an async expression evaluating to an
/// `Arc<dyn ReadingStore>` that is fresh and empty each time.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            empty_store, round_trip, upsert_is_idempotent, filters_match_the_reference,
            readings_without_country, pages_are_bounded_and_complete, large_batches, windows_without_data,
            status_and_ingest_notes, key_and_place_filters_match_the_reference,
            questions_answer_like_the_reference, every_write_bumps_the_data_version);
    };
    (@cases $make:expr; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: ::std::sync::Arc<dyn $crate::store::ReadingStore> = $make.await;
                $crate::testing::conformance::$case(store).await;
            }
        )+
    };
}

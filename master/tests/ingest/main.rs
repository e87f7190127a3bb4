//! Ingest end to end: the real sample and archives into a real SQLite store, damaged feeds, HTTP with ETag,
//! and the binary's exit status.

use airq_common::shutdown::CancellationToken;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airq_common::index::daqi;
use airq_common::store::{collect, PageStream, ReadingStore};
use airq_common::StoreError;
use airq_master::config::IngestArgs;
use airq_master::ingest::Ingest;
use airq_master::source::Source;
use airq_master::summary::IngestSummary;
use serde_json::Value;

mod archive;
mod binary;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(path)
}

pub(crate) fn sample() -> PathBuf {
    data("feed/sensor-community-2019-04-16.json")
}

fn args(source: &str, store: &str) -> IngestArgs {
    IngestArgs {
        source: source.to_string(),
        format: None,
        store: store.to_string(),
        every: None,
        country: String::new(),
        batch: 37,
        http_timeout: std::time::Duration::from_secs(30),
        json: false,
        create: true,
        metrics_listen: None,
    }
}

/// Runs once and returns the summary and whether the run was complete.
async fn ingest(args: &IngestArgs) -> (IngestSummary, bool) {
    let mut last = None;
    let complete = airq_master::run(args, CancellationToken::new(), |outcome| {
        last = Some(outcome.as_ref().expect("run").clone());
    })
    .await
    .expect("run");
    (last.expect("a summary"), complete)
}

fn temp_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("airq.db").display());
    (dir, url)
}

/// The rules applied independently to the raw JSON: a P1/P2 value that is a finite number >= 0 below the
/// saturation limit, from a sensor that is not a particle counter.
fn usable(record: &Value) -> Option<(Option<f64>, Option<f64>)> {
    let kind = record["sensor"]["sensor_type"]["name"]
        .as_str()
        .unwrap_or("");
    if kind == "PPD42NS" || kind == "DSM501A" {
        return None;
    }
    let mut pm10 = None;
    let mut pm25 = None;
    for v in record["sensordatavalues"].as_array()? {
        let value = v["value"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|x| x.is_finite() && *x >= 0.0);
        match v["value_type"].as_str() {
            Some("P1") => pm10 = value.filter(|x| *x < 1900.0),
            Some("P2") => pm25 = value.filter(|x| *x < 900.0),
            _ => {}
        }
    }
    (pm10.is_some() || pm25.is_some()).then_some((pm10, pm25))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_sample_gives_140_readings_with_their_index() {
    let raw: Vec<Value> =
        serde_json::from_slice(&std::fs::read(sample()).expect("read")).expect("json");
    let expected: Vec<(u64, Option<f64>, Option<f64>)> = raw
        .iter()
        .filter_map(|r| {
            usable(r).map(|(p10, p25)| (r["sensor"]["id"].as_u64().unwrap_or(0), p10, p25))
        })
        .collect();
    assert_eq!(
        expected.len(),
        140,
        "the rules, applied to the raw JSON here"
    );

    let (_dir, url) = temp_store();
    let (summary, complete) = ingest(&args(sample().to_str().expect("utf8"), &url)).await;
    assert!(complete);
    assert_eq!(summary.records_seen, 243);
    assert_eq!(summary.readings_written, 140);
    assert_eq!(summary.skipped_total, 103);
    assert_eq!(summary.skipped.values().sum::<u64>(), 103);

    let store = airq_common::open_store(&url).await.expect("store");
    assert_eq!(store.count().await.expect("count"), 140);
    let q = airq_common::Query::from_params([("start", "2019-04-16"), ("end", "2019-04-17")])
        .expect("query");
    let stored = collect(store.query(&q, 50)).await.expect("query");
    for (sensor, pm10, pm25) in expected {
        let r = stored
            .iter()
            .find(|r| r.sensor_id == sensor)
            .expect("stored");
        assert_eq!(
            (r.pm10, r.pm25),
            (pm10, pm25),
            "sensor {sensor}: P1 is PM10, P2 is PM2.5"
        );
        let aqi = daqi(pm25, pm10).expect("index");
        assert_eq!(r.aqi, aqi, "sensor {sensor}");
        assert_eq!(r.band, airq_common::Band::of_index(aqi));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingesting_twice_changes_nothing() {
    let (_dir, url) = temp_store();
    let a = args(sample().to_str().expect("utf8"), &url);
    ingest(&a).await;
    let store = airq_common::open_store(&url).await.expect("store");
    let q = airq_common::Query::from_params([("start", "2019-04-16"), ("end", "2019-04-17")])
        .expect("query");
    let before = collect(store.query(&q, 500)).await.expect("query");
    ingest(&a).await;
    assert_eq!(store.count().await.expect("count"), 140);
    assert_eq!(collect(store.query(&q, 500)).await.expect("query"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_feed_keeps_the_readings_before_the_damage_and_fails_the_run() {
    let bytes = std::fs::read(sample()).expect("read");
    let dir = tempfile::tempdir().expect("tempdir");
    // Cut in the middle of a record: the cut point is neither between records nor at the end.
    let cut_at = bytes.len() / 2 + 101;
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &bytes[..cut_at]).expect("write");
    let (_s, url) = temp_store();
    let (summary, complete) = ingest(&args(cut.to_str().expect("utf8"), &url)).await;
    assert!(!complete);
    assert_eq!(summary.damage.len(), 1, "{summary}");
    assert_eq!(summary.damage[0].kind, "truncated");
    let offset = summary.damage[0].offset.expect("offset");
    assert!(offset > 0 && offset < cut_at as u64, "{offset}");
    // The offset is where the unfinished record begins: it opens with `{`, and every record before it is whole.
    assert_eq!(bytes[offset as usize], b'{');
    let (before, stats, _) = airq_common::feed::read_feed(&bytes[..offset as usize]);
    assert!(!before.is_empty());
    assert_eq!(summary.readings_written, before.len() as u64);
    assert_eq!(summary.records_seen, stats.records_seen);
    let store = airq_common::open_store(&url).await.expect("store");
    assert_eq!(
        store.count().await.expect("count"),
        summary.readings_written
    );
    let q = airq_common::Query::from_params([("start", "2019-04-16"), ("end", "2019-04-17")])
        .expect("query");
    let mut stored: Vec<(u64, i64)> = collect(store.query(&q, 500))
        .await
        .expect("query")
        .iter()
        .map(|r| (r.sensor_id, r.timestamp))
        .collect();
    let mut expected: Vec<(u64, i64)> = before.iter().map(|r| (r.sensor_id, r.timestamp)).collect();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected);

    // Garbage after the array: every record is kept, the damage is reported at the garbage's first byte.
    let mut tailed = bytes.clone();
    tailed.extend_from_slice(b"<html>504 Gateway Time-out</html>");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, &tailed).expect("write");
    let (_s2, url2) = temp_store();
    let (summary, complete) = ingest(&args(garbage.to_str().expect("utf8"), &url2)).await;
    assert!(!complete);
    assert_eq!(summary.readings_written, 140);
    assert_eq!(summary.records_seen, 243);
    assert_eq!(summary.damage.len(), 1);
    assert_eq!(summary.damage[0].kind, "trailing_garbage");
    assert_eq!(summary.damage[0].offset, Some(bytes.len() as u64));
    let store = airq_common::open_store(&url2).await.expect("store");
    assert_eq!(store.count().await.expect("count"), 140);
}

/// A store that asks for a stop when a write begins, then performs the write: a stop arriving while a batch is
/// being written.
struct StopDuringWrite {
    inner: Arc<dyn ReadingStore>,
    stop: CancellationToken,
}

#[async_trait::async_trait]
impl ReadingStore for StopDuringWrite {
    async fn upsert(&self, readings: &[airq_common::Reading]) -> Result<u64, StoreError> {
        self.stop.cancel();
        self.inner.upsert(readings).await
    }
    fn query(&self, query: &airq_common::Query, page_size: usize) -> PageStream {
        self.inner.query(query, page_size)
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }
    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }
    async fn stats(&self) -> Result<airq_common::store::StoreStats, StoreError> {
        self.inner.stats().await
    }
    async fn data_version(&self) -> Result<u64, StoreError> {
        self.inner.data_version().await
    }
    async fn note_ingest(&self, note: &airq_common::store::IngestNote) -> Result<(), StoreError> {
        self.inner.note_ingest(note).await
    }
    async fn ingest_notes(&self) -> Result<airq_common::store::IngestNotes, StoreError> {
        self.inner.ingest_notes().await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_finishes_the_batch_in_flight_and_reports_the_rest() {
    let (_dir, url) = temp_store();
    let inner = airq_common::open_store(&url).await.expect("store");
    let stop_rx = CancellationToken::new();
    let stop_tx = stop_rx.clone();
    let ingest = Ingest {
        store: Arc::new(StopDuringWrite {
            inner: inner.clone(),
            stop: stop_tx,
        }),
        format: None,
        country: String::new(),
        batch: 37,
        http: airq_master::http::client(Duration::from_secs(10)).expect("client"),
    };
    let source = Source::parse(sample().to_str().expect("utf8"));
    let summary = ingest
        .run(&source, &mut Default::default(), &stop_rx)
        .await
        .expect("run");
    assert!(summary.interrupted, "{summary}");
    assert!(!summary.is_complete());
    assert!(summary.damage.is_empty());
    // Exactly the batch in flight was written, and all of it.
    assert_eq!(summary.readings_written, 37);
    assert_eq!(inner.count().await.expect("count"), 37);
    // What the parser had read ahead is reported, not lost silently.
    assert!(summary.readings_parsed >= 37);
    assert_eq!(summary.readings_not_written(), summary.readings_parsed - 37);
    let text = summary.to_string();
    assert!(text.contains("INTERRUPTED"), "{text}");
    assert!(
        text.contains(&format!(
            "{} parsed readings not written",
            summary.readings_not_written()
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_of_archives_is_ingested() {
    let folder = data("archive/aberdeen-2019-05");
    let mut rows = 0u64;
    for entry in std::fs::read_dir(&folder).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "csv") {
            let text = std::fs::read_to_string(&path).expect("read");
            rows += text
                .lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .count() as u64;
        }
    }
    let (_dir, url) = temp_store();
    let mut a = args(folder.to_str().expect("utf8"), &url);
    a.country = "gb".into();
    a.batch = 5000;
    let (summary, complete) = ingest(&a).await;
    assert!(complete, "{summary}");
    assert_eq!(summary.records_seen, rows);
    assert_eq!(summary.readings_written + summary.skipped_total, rows);
    let store = airq_common::open_store(&url).await.expect("store");
    assert_eq!(
        store.count().await.expect("count"),
        summary.readings_written
    );
    let q = airq_common::Query::from_params([
        ("start", "2019-05-06"),
        ("end", "2019-05-07"),
        ("country", "GB"),
    ])
    .expect("q");
    assert!(!collect(store.query(&q, 1000))
        .await
        .expect("query")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_feed_is_skipped_by_etag() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let body = std::fs::read(sample()).expect("read");
    let conditional = Arc::new(AtomicUsize::new(0));
    let seen = conditional.clone();
    let app = axum::Router::new().route(
        "/data.json",
        axum::routing::get(move |headers: HeaderMap| {
            let body = body.clone();
            let seen = seen.clone();
            async move {
                if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("\"v1\"") {
                    seen.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::NOT_MODIFIED.into_response();
                }
                (
                    [("etag", "\"v1\""), ("content-type", "application/json")],
                    body,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/data.json", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (_dir, store_url) = temp_store();
    let a = args(&url, &store_url);
    let store = airq_common::open_store(&store_url).await.expect("store");
    let ingest = airq_master::ingest::Ingest {
        store: store.clone(),
        format: None,
        country: String::new(),
        batch: 100,
        http: airq_master::http::client(std::time::Duration::from_secs(10)).expect("client"),
    };
    let source = airq_master::source::Source::parse(&a.source);
    let mut validators = Default::default();
    let stop = CancellationToken::new();
    let first = ingest
        .run(&source, &mut validators, &stop)
        .await
        .expect("first");
    assert_eq!(first.readings_written, 140);
    assert!(!first.not_modified);
    let second = ingest
        .run(&source, &mut validators, &stop)
        .await
        .expect("second");
    assert!(second.not_modified);
    assert_eq!(second.readings_written, 0);
    assert_eq!(
        conditional.load(Ordering::SeqCst),
        1,
        "the second request carried If-None-Match"
    );
    assert_eq!(store.count().await.expect("count"), 140);
}

/// Serves the sample with Last-Modified only (no ETag), gzip-compressed when the client accepts it, and
/// records the request headers it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_last_modified_are_used() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::io::Write;
    const MODIFIED: &str = "Tue, 16 Apr 2019 14:22:52 GMT";
    let raw = std::fs::read(sample()).expect("read");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gzip");
    let gzipped = gz.finish().expect("gzip");
    assert!(gzipped.len() < raw.len());
    let requests: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let seen = requests.clone();
    let app = axum::Router::new().route(
        "/data.json",
        axum::routing::get(move |headers: HeaderMap| {
            let body = gzipped.clone();
            seen.lock().expect("lock").push(headers.clone());
            async move {
                if headers
                    .get("if-modified-since")
                    .and_then(|v| v.to_str().ok())
                    == Some(MODIFIED)
                {
                    return StatusCode::NOT_MODIFIED.into_response();
                }
                let accepts_gzip = headers
                    .get("accept-encoding")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("gzip"));
                if !accepts_gzip {
                    return StatusCode::NOT_ACCEPTABLE.into_response();
                }
                (
                    [
                        ("last-modified", MODIFIED),
                        ("content-encoding", "gzip"),
                        ("content-type", "application/json"),
                    ],
                    body,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/data.json", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (_dir, store_url) = temp_store();
    let store = airq_common::open_store(&store_url).await.expect("store");
    let ingest = Ingest {
        store: store.clone(),
        format: None,
        country: String::new(),
        batch: 100,
        http: airq_master::http::client(Duration::from_secs(10)).expect("client"),
    };
    let source = Source::parse(&url);
    let mut validators = Default::default();
    let stop = CancellationToken::new();
    let first = ingest
        .run(&source, &mut validators, &stop)
        .await
        .expect("first");
    assert!(first.is_complete(), "{first}");
    assert_eq!(first.readings_written, 140);
    assert_eq!(first.records_seen, 243);
    let second = ingest
        .run(&source, &mut validators, &stop)
        .await
        .expect("second");
    assert!(second.not_modified && second.is_complete(), "{second}");
    assert_eq!(second.records_seen, 0);
    let requests = requests.lock().expect("lock");
    assert_eq!(requests.len(), 2);
    let user_agent = requests[0]
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(user_agent.contains("airq"), "{user_agent}");
    assert!(requests[0].get("if-modified-since").is_none());
    assert_eq!(
        requests[1]
            .get("if-modified-since")
            .and_then(|v| v.to_str().ok()),
        Some(MODIFIED)
    );
}

/// `--every` through the public `run`: a failing first run (HTTP 503) is reported with the URL and status and
/// retried at the next tick; the second run writes the feed; the third sends the ETag back and is skipped as not
/// modified. The test stops the schedule from its report callback after the third run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_retries_a_failed_run_and_keeps_the_etag_between_ticks() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let body = std::fs::read(sample()).expect("read");
    let requests: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let seen = requests.clone();
    let app = axum::Router::new().route(
        "/data.json",
        axum::routing::get(move |headers: HeaderMap| {
            let body = body.clone();
            let n = {
                let mut seen = seen.lock().expect("lock");
                seen.push(headers.clone());
                seen.len()
            };
            async move {
                if n == 1 {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("\"v1\"") {
                    return StatusCode::NOT_MODIFIED.into_response();
                }
                ([("etag", "\"v1\"")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/data.json", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (_dir, store_url) = temp_store();
    let mut a = args(&url, &store_url);
    a.every = Some(Duration::from_millis(20));
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let mut outcomes: Vec<Result<IngestSummary, String>> = Vec::new();
    let last_complete = airq_master::run(&a, stopper, |outcome| {
        outcomes.push(match outcome {
            Ok(summary) => Ok(summary.clone()),
            Err(e) => Err(e.to_string()),
        });
        if outcomes.len() == 3 {
            // notify_one keeps the permit if the scheduler is not waiting yet.
            stop.cancel();
        }
    })
    .await
    .expect("schedule");
    assert!(last_complete, "the last run was complete");
    assert_eq!(outcomes.len(), 3);
    let failure = outcomes[0].as_ref().expect_err("503 fails the run");
    assert!(
        failure.contains(&url) && failure.contains("503"),
        "{failure}"
    );
    let written = outcomes[1].as_ref().expect("second run");
    assert_eq!(written.readings_written, 140);
    let skipped = outcomes[2].as_ref().expect("third run");
    assert!(skipped.not_modified && skipped.readings_written == 0);
    let requests = requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 3);
    assert!(requests[1].get("if-none-match").is_none());
    assert_eq!(
        requests[2]
            .get("if-none-match")
            .and_then(|v| v.to_str().ok()),
        Some("\"v1\"")
    );
    let store = airq_common::open_store(&store_url).await.expect("store");
    assert_eq!(store.count().await.expect("count"), 140);
}

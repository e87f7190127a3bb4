//! The HTTP API in-process: direct and queued answers, the results lifecycle, limits, and bad input.

use std::time::Duration;

use airq_common::results::ResultOptions;
use airq_common::testing::fixtures::{readings, T0};
use airq_common::time::format_rfc3339;
use airq_gateway::state::Settings;
use airq_gateway::GatewayOptions;
use serde_json::{json, Value};

use crate::support::{sample_readings, start, start_with};

/// Queries over the real sample: whole snapshot, by country, by band, by index range, legacy spellings, and an
/// empty answer.
const QUERIES: &[&str] = &[
    "start=2019-04-16T00:00:00Z&end=2019-04-17T00:00:00Z",
    "start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z&country=DE",
    "start=2019-04-16&end=2019-04-17&country=nl&band=Low",
    "start=2019-04-16&end=2019-04-17&band=Medium",
    "start=2019-04-16&end=2019-04-17&min_aqi=2&max_aqi=3",
    "start=2019-04-16T14:22:52Z&end=2019-04-16T14:22:52Z",
    "start=2020-01-01&end=2020-01-02",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_queued_answers_are_byte_identical() {
    let sys = start(GatewayOptions::default(), 2, &sample_readings()).await;
    let mut non_empty = 0;
    for params in QUERIES {
        let direct = sys
            .client
            .get(sys.url(&format!("/api/query?{params}")))
            .send()
            .await
            .expect("direct");
        assert_eq!(direct.status(), 200, "{params}");
        assert_eq!(direct.headers()["content-type"], "text/csv; charset=utf-8");
        let direct = direct.bytes().await.expect("body");
        let id = sys.submit_async(params).await;
        let queued = sys.result(&id).await;
        assert_eq!(queued.status(), 200, "{params}");
        let queued = queued.bytes().await.expect("body");
        assert_eq!(direct, queued, "{params}");
        assert!(direct.starts_with(b"id,sensor_id,sensor_type,"));
        if direct
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            > 1
        {
            non_empty += 1;
        }
    }
    assert!(non_empty >= 5, "the queries should mostly have answers");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_post_body_answers_like_get() {
    let sys = start(GatewayOptions::default(), 1, &sample_readings()).await;
    let post = sys
        .client
        .post(sys.url("/api/query"))
        .json(&json!({"startDate": "2019-04-16 00:00:00", "endDate": "2019-04-17 00:00:00", "country": "DE",
                      "range": "Low", "minAqi": 0, "maxAqi": 10}))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 200);
    let post = post.bytes().await.expect("body");
    let get = sys
        .client
        .get(sys.url("/api/query?start=2019-04-16&end=2019-04-17&country=DE&band=Low"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(post, get);
    // 140 readings in the sample; the DE/Low subset is most of them but not all.
    let rows = post
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        - 1;
    assert!(rows > 10 && rows < 140, "{rows}");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_direct_limit_queries_are_queued_and_answered() {
    let options = GatewayOptions {
        direct_limit: 0,
        ..GatewayOptions::default()
    };
    let sys = start(options, 1, &sample_readings()).await;
    let r = sys
        .client
        .post(sys.url("/api/query"))
        .json(&json!({"startDate": "2019-04-16", "endDate": "2019-04-17"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let done = sys.result(&id).await;
    assert_eq!(done.status(), 200);
    let rows = done
        .bytes()
        .await
        .expect("body")
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(rows, 141, "header and the sample's 140 readings");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_can_be_fetched_again_deleted_and_expire() {
    let options = GatewayOptions {
        settings: Settings {
            result_ttl: Duration::from_millis(1500),
            ..Settings::default()
        },
        ..GatewayOptions::default()
    };
    let sys = start(options, 1, &sample_readings()).await;
    let params = "start=2019-04-16&end=2019-04-17";
    let id = sys.submit_async(params).await;
    let first = sys.result(&id).await.bytes().await.expect("body");
    let again = sys
        .client
        .get(sys.url(&format!("/api/results/{id}")))
        .send()
        .await
        .expect("again");
    assert_eq!(again.status(), 200);
    assert_eq!(again.bytes().await.expect("body"), first);

    // Expiry: poll until the result is gone (no fixed sleep; bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = sys
            .client
            .get(sys.url(&format!("/results/{id}")))
            .send()
            .await
            .expect("poll");
        if r.status() == 410 {
            let body: Value = r.json().await.expect("json");
            assert!(body["error"].as_str().expect("error").contains("expired"));
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let id2 = sys.submit_async(params).await;
    let deleted = sys
        .client
        .delete(sys.url(&format!("/results/{id2}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let after = sys
        .client
        .get(sys.url(&format!("/results/{id2}")))
        .send()
        .await
        .expect("get");
    assert_eq!(after.status(), 410, "a cancelled id is gone, not unknown");
    assert!(after.json::<Value>().await.expect("json")["error"]
        .as_str()
        .expect("error")
        .contains("cancelled"));
    let unknown = sys
        .client
        .get(sys.url("/results/6f1c2b9e-2d6c-4c53-9f0e-0a4b5d9d2c11"))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status(), 404);
    let malformed = sys
        .client
        .get(sys.url("/results/not-a-uuid"))
        .send()
        .await
        .expect("get");
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.expect("json")["field"],
        "id"
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_nobody_answers_fails_at_its_deadline() {
    let options = GatewayOptions {
        settings: Settings {
            job_deadline: Duration::from_millis(500),
            ..Settings::default()
        },
        ..GatewayOptions::default()
    };
    let sys = start(options, 0, &sample_readings()).await;
    let id = sys.submit_async("start=2019-04-16&end=2019-04-17").await;
    let r = sys.result(&id).await;
    assert_eq!(r.status(), 504);
    assert!(r.json::<Value>().await.expect("json")["error"]
        .as_str()
        .expect("error")
        .contains("deadline"));
    sys.stop().await;
}

async fn expect_400(resp: reqwest::Response, field: &str) {
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json error body");
    assert_eq!(body["field"], field, "{body}");
    assert!(!body["error"].as_str().expect("error").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_gets_400_naming_the_field() {
    let sys = start(GatewayOptions::default(), 0, &[]).await;
    let post = |body: &'static str| {
        sys.client
            .post(sys.url("/api/query"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    expect_400(post("{not json").await.expect("send"), "body").await;
    expect_400(
        post(r#"{"endDate": "2019-04-16"}"#).await.expect("send"),
        "startDate",
    )
    .await;
    expect_400(
        post(r#"{"startDate": "16/04/2019", "endDate": "2019-04-16"}"#)
            .await
            .expect("send"),
        "startDate",
    )
    .await;
    expect_400(
        post(r#"{"startDate": "2019-04-17", "endDate": "2019-04-16"}"#)
            .await
            .expect("send"),
        "endDate",
    )
    .await;
    expect_400(
        post(r#"{"startDate": "2019-04-16", "endDate": "2019-04-17", "minAqi": 11}"#)
            .await
            .expect("send"),
        "minAqi",
    )
    .await;
    expect_400(
        post(r#"{"startDate": "2019-04-16", "endDate": "2019-04-17", "range": "Awful"}"#)
            .await
            .expect("send"),
        "range",
    )
    .await;
    expect_400(
        post(r#"{"startDate": "2019-04-16", "endDate": "2019-04-17", "country": "Germany"}"#)
            .await
            .expect("send"),
        "country",
    )
    .await;
    let get = |q: &'static str| sys.client.get(sys.url(&format!("/api/query?{q}"))).send();
    expect_400(
        get("start=2019-04-16&end=2019-04-17&max_aqi=x")
            .await
            .expect("send"),
        "max_aqi",
    )
    .await;
    expect_400(
        get("start=2019-04-16&end=2019-04-17&colour=red")
            .await
            .expect("send"),
        "colour",
    )
    .await;
    expect_400(get("end=2019-04-17").await.expect("send"), "start").await;
    let wait = sys
        .client
        .get(sys.url("/results/6f1c2b9e-2d6c-4c53-9f0e-0a4b5d9d2c11?wait=soon"))
        .send()
        .await
        .expect("send");
    expect_400(wait, "wait").await;

    let huge = format!(
        r#"{{"startDate": "2019-04-16", "endDate": "2019-04-17", "pad": "{}"}}"#,
        "x".repeat(100_000)
    );
    let r = sys
        .client
        .post(sys.url("/api/query"))
        .body(huge)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.expect("json")["field"], "body");
    let r = sys
        .client
        .get(sys.url("/nowhere"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.expect("json")["error"].is_string());
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_5_mb_goes_through_the_queue_intact() {
    // ~60k readings in one hour window: the CSV is well over 5 MB, far over one queue message.
    // Distinct sensors, so no two readings share a key.
    let mut data = readings(60_000, 2);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 10_000 + i as u64;
    }
    let sys = start(GatewayOptions::default(), 2, &data).await;
    let params = format!(
        "start={}&end={}",
        format_rfc3339(T0),
        format_rfc3339(T0 + 2 * 3600)
    );
    let direct = sys
        .client
        .get(sys.url(&format!("/api/query?{params}")))
        .send()
        .await
        .expect("direct")
        .bytes()
        .await
        .expect("body");
    assert!(direct.len() >= 5 << 20, "only {} bytes", direct.len());
    let id = sys.submit_async(&params).await;
    let queued = sys.result(&id).await;
    assert_eq!(queued.status(), 200);
    let queued = queued.bytes().await.expect("body");
    assert_eq!(queued.len(), direct.len());
    assert!(
        queued == direct,
        "queued answer differs from the direct one"
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_clean_shutdown_remove_the_reply_queue() {
    let sys = start(GatewayOptions::default(), 0, &[]).await;
    let health = sys
        .client
        .get(sys.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = sys
        .client
        .get(sys.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let queues = sys.backends.queues.clone();
    let reply_to = sys.reply_to.clone();
    queues
        .open(&reply_to)
        .await
        .expect("reply queue exists while running");
    sys.stop().await;
    let gone = queues.open(&reply_to).await.err().expect("removed");
    assert!(
        matches!(gone, airq_common::queue::QueueError::NoSuchQueue(_)),
        "{gone}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_parts_still_make_the_same_answer() {
    let results = ResultOptions {
        part_bytes: 1024,
        ..ResultOptions::default()
    };
    let sys = start_with(
        GatewayOptions::default(),
        1,
        &sample_readings(),
        airq_worker::Settings::default(),
        results,
    )
    .await;
    let params = "start=2019-04-16&end=2019-04-17";
    let direct = sys
        .client
        .get(sys.url(&format!("/api/query?{params}")))
        .send()
        .await
        .expect("d")
        .bytes()
        .await
        .expect("b");
    let id = sys.submit_async(params).await;
    assert_eq!(sys.result(&id).await.bytes().await.expect("body"), direct);
    sys.stop().await;
}

/// A queued answer is served as plain CSV to a client that does not take gzip (the gateway decompresses the
/// stored parts as it streams), and as the stored gzip stream, marked `Content-Encoding: gzip`, to one that does:
/// both are the direct answer's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_answers_are_served_plain_or_gzip_as_the_client_asks() {
    let results = ResultOptions {
        part_bytes: 1024,
        ..ResultOptions::default()
    };
    let sys = start_with(
        GatewayOptions::default(),
        1,
        &sample_readings(),
        airq_worker::Settings::default(),
        results,
    )
    .await;
    let params = "start=2019-04-16&end=2019-04-17";
    let direct = sys
        .client
        .get(sys.url(&format!("/api/query?{params}")))
        .send()
        .await
        .expect("direct")
        .bytes()
        .await
        .expect("body");
    let id = sys.submit_async(params).await;
    assert_eq!(sys.result(&id).await.status(), 200);
    let raw = reqwest::Client::builder()
        .gzip(false)
        .build()
        .expect("client");
    let plain = raw
        .get(sys.url(&format!("/results/{id}")))
        .send()
        .await
        .expect("plain");
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.expect("body"), direct);
    let gz = raw
        .get(sys.url(&format!("/results/{id}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("gzip");
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let compressed = gz.bytes().await.expect("body");
    assert!(compressed.len() < direct.len() / 2, "it is compressed");
    let mut csv = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut csv)
        .expect("one gzip stream");
    assert_eq!(csv, direct);
    // `gzip;q=0` refuses gzip.
    let refused = raw
        .get(sys.url(&format!("/results/{id}")))
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .expect("refused");
    assert!(refused.headers().get("content-encoding").is_none());
    assert_eq!(refused.bytes().await.expect("body"), direct);
    sys.stop().await;
}

/// `/readyz` reflects the store file: moved away under the running gateway, it answers 503 with the reason (a
/// load balancer takes the instance out) instead of serving the unlinked file (issue 10, finding 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_a_store_file_moved_away() {
    let sys = start(GatewayOptions::default(), 0, &sample_readings()).await;
    assert_eq!(
        sys.client
            .get(sys.url("/readyz"))
            .send()
            .await
            .expect("probe")
            .status(),
        200
    );
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{}{suffix}", sys.db);
        if std::path::Path::new(&from).exists() {
            std::fs::rename(&from, format!("{}.moved{suffix}", sys.db)).expect("move");
        }
    }
    let r = sys
        .client
        .get(sys.url("/readyz"))
        .send()
        .await
        .expect("probe");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["reason"].as_str().expect("reason").contains("removed"),
        "{body}"
    );
    // Put it back for a clean stop (the gateway removes its reply queue from the file).
    for suffix in ["", "-wal", "-shm"] {
        let moved = format!("{}.moved{suffix}", sys.db);
        if std::path::Path::new(&moved).exists() {
            std::fs::rename(&moved, format!("{}{suffix}", sys.db)).expect("restore");
        }
    }
    sys.stop().await;
}

/// A gateway that serves a store made by the master (not `--standalone`) must find it: started on a path with
/// no store (moved away, or mistyped) it refuses, naming `--create`, and creates nothing there, instead of
/// serving a new, empty file beside processes that still use the old one (issue 10, finding 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_does_not_make_a_missing_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    let urls = airq_common::backends::BackendUrls::embedded(db.to_str().expect("utf8"));
    let refused = airq_gateway::SystemBuilder::new(urls.clone())
        .store_creation(airq_common::store::Creation::Never)
        .start()
        .await;
    let Err(e) = refused else {
        panic!("a gateway started on a missing store")
    };
    assert!(format!("{e:#}").contains("--create"), "{e:#}");
    assert!(!db.exists(), "nothing was created");
    let first_run = airq_gateway::SystemBuilder::new(urls)
        .start()
        .await
        .expect("a first run (standalone) makes it");
    assert!(db.exists());
    first_run.shutdown().await.expect("clean stop");
}

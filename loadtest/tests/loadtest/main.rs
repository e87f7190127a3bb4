//! The load generator against a real in-process gateway (embedded backends): both paths counted, the JSON
//! report's schema, thresholds, and the ceiling server. `auth` has `--api-key`, `slow` the slow clients, `exit`
//! the binary's exit status and the query span taken from the target's data.

mod auth;
mod exit;
mod slow;

use std::time::Duration;

use airq_common::backends::BackendUrls;
use airq_common::feed::FeedReader;
use airq_common::shutdown::CancellationToken;
use airq_gateway::{GatewayOptions, System, SystemBuilder};
use airq_loadtest::client::PollMode;
use airq_loadtest::config::{LoadArgs, MixArgs};
use serde_json::Value;

const SAMPLE: &[u8] = include_bytes!("../../../data/feed/sensor-community-2019-04-16.json");

/// The whole system in-process on a fresh embedded file with the bundled sample: a gateway and one worker.
async fn gateway(direct_limit: usize) -> (String, System, tempfile::TempDir) {
    gateway_with(direct_limit, SAMPLE).await
}

/// [`gateway`] holding the readings of `feed` (a Sensor.Community JSON feed).
async fn gateway_with(direct_limit: usize, feed: &[u8]) -> (String, System, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    let system = SystemBuilder::new(BackendUrls::embedded(db.to_str().expect("utf8")))
        .gateway(GatewayOptions {
            direct_limit,
            ..GatewayOptions::default()
        })
        .workers(1, Default::default())
        .start()
        .await
        .expect("system");
    system
        .backends
        .store
        .upsert(&FeedReader::new(feed).collect::<Vec<_>>())
        .await
        .expect("upsert");
    (system.base_url(), system, dir)
}

fn args(url: &str) -> LoadArgs {
    LoadArgs {
        url: Some(url.to_string()),
        requests: None,
        concurrency: 8,
        rate: None,
        duration: Duration::from_secs(2),
        max_in_flight: 1000,
        mix: MixArgs {
            queries: None,
            span: Some("2019-04-16T13:00:00Z,2019-04-16T16:00:00Z".into()),
            window: Duration::from_secs(3600),
            countries: "DE,NL".into(),
            distinct: 20,
            seed: 1,
        },
        poll: PollMode::Wait,
        timeout: Duration::from_secs(30),
        max_time: Duration::from_secs(60),
        no_gzip: false,
        prefer_async: 0.0,
        api_key: None,
        json: None,
        plot: None,
        fail_if: None,
        quiet: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_counts_direct_and_queued_and_writes_the_documented_json() {
    let (base, system, _dir) = gateway(2).await;
    let mut a = args(&base);
    a.requests = Some(120);
    a.concurrency = 12;
    let (report, _) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(report.completed, 120);
    assert_eq!(report.ok, 120, "{}", report.summary());
    assert_eq!(report.direct + report.queued, 120);
    assert!(
        report.queued > 0,
        "with 12 clients and a direct limit of 2, some must be queued"
    );
    assert!(report.direct > 0);
    assert!(report.result_ms.p50 > 0.0 && report.result_ms.p99 >= report.result_ms.p50);
    assert!(report
        .summary()
        .contains("closed-loop tails are optimistic"));

    // The JSON schema documented in docs/loadtest.md.
    let json: Value = serde_json::to_value(&report).expect("json");
    assert_eq!(json["schema"], "airq-loadtest/1");
    for key in [
        "completed",
        "ok",
        "failed",
        "direct",
        "queued",
        "throughput_rps",
        "bytes_received",
    ] {
        assert!(json[key].is_number(), "{key}");
    }
    for key in ["count", "p50", "p90", "p99", "p99_9", "max", "mean"] {
        assert!(json["result_ms"][key].is_number(), "result_ms.{key}");
        assert!(
            json["first_answer_ms"][key].is_number(),
            "first_answer_ms.{key}"
        );
    }
    assert_eq!(json["run"]["mode"], "closed");
    assert_eq!(json["run"]["concurrency"], 12);
    assert!(json["status_codes"]["200"].is_number());
    assert!(json["status_codes"]["202"].is_number());
    assert!(json["errors"].is_object());
    system.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_paces_arrivals_and_thresholds_trip() {
    let (base, system, _dir) = gateway(100).await;
    let mut a = args(&base);
    a.rate = Some(50.0);
    a.duration = Duration::from_secs(2);
    let (report, timeline) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(report.run.mode, "open");
    assert_eq!(report.run.requests_planned, 100);
    assert_eq!(report.completed + report.run.dropped_arrivals, 100);
    assert_eq!(report.failed, 0);
    assert!(!timeline.is_empty());
    // The run took about its duration: arrivals were paced, not sent at once.
    assert!(report.run.elapsed_s >= 1.9, "{}", report.run.elapsed_s);
    let strict = airq_loadtest::thresholds::parse("p50<1ms").expect("parse");
    assert_eq!(
        strict[0].check(&report).is_some(),
        report.result_ms.p50 < 1.0
    );
    let tripped = airq_loadtest::thresholds::parse("p50>0ms").expect("parse");
    assert!(
        tripped[0].check(&report).is_some(),
        "any measured latency is above zero"
    );
    let never = airq_loadtest::thresholds::parse("errors>0,p99>30s").expect("parse");
    assert!(never.iter().all(|t| t.check(&report).is_none()));
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("run.svg");
    airq_loadtest::plot::run(&svg, &report, &timeline).expect("plot");
    assert!(std::fs::read_to_string(&svg).expect("svg").contains("<svg"));
    system.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_of_requests_asks_for_the_queued_path() {
    let (base, system, _dir) = gateway(100).await;
    let mut a = args(&base);
    a.requests = Some(40);
    a.concurrency = 4;
    a.prefer_async = 0.25;
    let (report, _) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(report.failed, 0);
    assert_eq!(
        report.queued, 10,
        "a quarter asked queued, spread evenly; the direct limit leaves the rest direct"
    );
    assert_eq!(report.direct, 30);
    system.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified() {
    // Nothing listens on this port: every request is a connect error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut a = args(&format!("http://127.0.0.1:{port}"));
    a.requests = Some(5);
    let (report, _) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(report.failed, 5);
    assert_eq!(
        report
            .errors
            .get(&airq_loadtest::client::ErrorClass::Connect),
        Some(&5)
    );
    // A query the gateway rejects is a 4xx.
    let (base, system, _dir) = gateway(100).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"startDate\": \"yesterday\", \"endDate\": \"2019-04-17\"}\n",
    )
    .expect("write");
    let mut a = args(&base);
    a.requests = Some(3);
    a.mix.queries = Some(bad);
    let (report, _) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(
        report
            .errors
            .get(&airq_loadtest::client::ErrorClass::Http4xx),
        Some(&3)
    );
    system.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ceiling_serves_fixed_bytes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let body = bytes::Bytes::from_static(b"id,sensor_id,x\n1,2,3\n");
    let stop = CancellationToken::new();
    tokio::spawn(airq_loadtest::ceiling::serve(
        listener,
        body,
        stop.clone().cancelled_owned(),
    ));
    let mut a = args(&base);
    a.requests = Some(50);
    let (report, _) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(report.ok, 50);
    assert_eq!(report.bytes_received, 50 * 21);
    stop.cancel();
}

#[test]
fn gen_feed_writes_a_deterministic_parseable_feed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str| {
        let out = dir.path().join(name);
        let args = airq_loadtest::config::GenFeedArgs {
            sensors: 50,
            hours: 1,
            seed: 9,
            interval: 300,
            start: "2019-04-16T00:00:00Z".into(),
            out: Some(out.clone()),
        };
        airq_loadtest::gen_feed(&args).expect("gen-feed");
        std::fs::read(out).expect("read")
    };
    let a = write("a.json");
    assert_eq!(a, write("b.json"), "same seed, same bytes");
    let (readings, stats, damage) = airq_common::feed::read_feed(&a[..]);
    assert_eq!(damage, None);
    assert_eq!(stats.records_seen, 50 * 12);
    assert!(!readings.is_empty());
}

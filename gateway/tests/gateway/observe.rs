//! Metrics and status (issue 11): `/metrics` passes promtool and its counters move with traffic; a separate
//! metrics listener takes `/metrics` off the API port; `/api/status` tells data freshness, the last ingest,
//! the queue and the workers seen.

use std::time::Duration;

use airq_common::backends::BackendUrls;
use airq_common::testing::prometheus::{promtool_check, value};
use airq_gateway::{GatewayOptions, IngestPlan, SystemBuilder};
use serde_json::Value;

use crate::support::{sample_readings, start};

const QUERY: &str = "/api/query?start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z";

async fn scrape(client: &reqwest::Client, url: &str) -> String {
    let r = client.get(url).send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    r.text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_move_with_traffic() {
    let sys = start(GatewayOptions::default(), 1, &sample_readings()).await;
    let metrics_url = sys.url("/metrics");
    let before = scrape(&sys.client, &metrics_url).await;
    let requests = |text: &str, path: &str, status: &str| {
        value(
            text,
            "airq_http_requests_total",
            &[("route", "/api/query"), ("path", path), ("status", status)],
        )
    };
    for _ in 0..3 {
        let r = sys.client.get(sys.url(QUERY)).send().await.expect("direct");
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body");
    }
    for _ in 0..2 {
        let id = sys
            .submit_async("start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z")
            .await;
        assert_eq!(sys.result(&id).await.status(), 200);
    }
    let bad = sys
        .client
        .get(sys.url("/api/query?start=yesterday"))
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status(), 400);

    let after = scrape(&sys.client, &metrics_url).await;
    promtool_check(&after);
    // Other tests in this binary share the process's recorder: counters only grow, by at least ours.
    assert!(requests(&after, "direct", "200") - requests(&before, "direct", "200") >= 3.0);
    assert!(requests(&after, "queued", "202") - requests(&before, "queued", "202") >= 2.0);
    assert!(requests(&after, "none", "400") - requests(&before, "none", "400") >= 1.0);
    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert!(grew("airq_jobs_submitted_total", &[]) >= 2.0);
    assert!(grew("airq_worker_jobs_total", &[("outcome", "answered")]) >= 2.0);
    assert!(grew("airq_store_rows_read_total", &[("backend", "sqlite")]) >= 1.0);
    assert!(
        grew(
            "airq_http_request_duration_seconds_count",
            &[("route", "/api/query")]
        ) >= 6.0
    );
    assert!(value(&after, "airq_direct_limit", &[]) >= 1.0);
    assert!(value(&after, "airq_build_info", &[("role", "gateway")]) == 1.0);
    assert!(
        value(&after, "process_resident_memory_bytes", &[]) > 0.0,
        "process metrics"
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_listener_takes_metrics_off_the_api_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    let system = SystemBuilder::new(BackendUrls::embedded(db.to_str().expect("utf8")))
        .gateway(GatewayOptions {
            metrics_listen: Some("127.0.0.1:0".parse().expect("addr")),
            ..GatewayOptions::default()
        })
        .start()
        .await
        .expect("system");
    let client = reqwest::Client::new();
    let metrics = system.metrics_addr.expect("a metrics address");
    let text = scrape(&client, &format!("http://{metrics}/metrics")).await;
    promtool_check(&text);
    let on_api = client
        .get(format!("{}/metrics", system.base_url()))
        .send()
        .await
        .expect("api port");
    assert_eq!(on_api.status(), 404, "not on the API port");
    system.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_freshness_ingest_queue_and_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    let system = SystemBuilder::new(BackendUrls::embedded(db.to_str().expect("utf8")))
        .workers(1, Default::default())
        .ingest(IngestPlan::Sample)
        .start()
        .await
        .expect("system");
    let client = reqwest::Client::new();
    let url = format!("{}/api/status", system.base_url());
    // The first ingest and the worker's first mark show within a bound.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status: Value = loop {
        let r = client.get(&url).send().await.expect("status");
        assert_eq!(r.status(), 200);
        let status: Value = r.json().await.expect("json");
        let ingested = status["ingest"]["last_complete"]["complete"] == true;
        let worker = status["workers"]["seen_recently"].as_u64() >= Some(1);
        if ingested && worker {
            break status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["service"], "airq");
    assert_eq!(status["data"]["readings"], 140);
    assert_eq!(status["data"]["readings_approximate"], false);
    assert!(status["data"]["newest"]
        .as_str()
        .expect("newest")
        .starts_with("2019-04-16T"));
    assert!(status["data"]["newest_age_seconds"].as_i64() > Some(0));
    assert_eq!(
        status["ingest"]["last"]["summary"]["readings_written"], 140,
        "{status}"
    );
    assert_eq!(status["queue"]["waiting"], 0);
    assert!(status["gateway"]["uptime_seconds"].as_u64().is_some());
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    system.shutdown().await.expect("stop");
}

/// The shipped alert rules and scrape configuration pass promtool, and every airq metric the dashboard and the
/// alerts use is one the code declares (a renamed metric would otherwise leave a silent, empty panel).
#[test]
fn the_shipped_dashboard_alerts_and_scrape_config_match_the_code() {
    let ops = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ops");
    for (what, file) in [("rules", "airq-alerts.yml"), ("config", "prometheus.yml")] {
        let out = std::process::Command::new("promtool")
            .args(["check", what])
            .arg(ops.join(file))
            .output()
            .expect("promtool (scripts/promtool-setup)");
        assert!(
            out.status.success(),
            "promtool check {what} {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let declared = include_str!("../../../common/src/metrics.rs");
    let dashboard = std::fs::read_to_string(ops.join("grafana-dashboard.json")).expect("dashboard");
    let parsed: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 10));
    let alerts = std::fs::read_to_string(ops.join("airq-alerts.yml")).expect("alerts");
    for text in [&dashboard, &alerts] {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("airq_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                declared.contains(&format!("\"{base}\"")),
                "{name} is used by docs/ops but not declared in common/src/metrics.rs"
            );
        }
    }
}

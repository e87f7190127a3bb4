//! The binary's exit status when a run measured nothing, and the query span a run without `--span` takes from
//! the target's data (`GET /api/status`).

use std::process::{Command, Stdio};

use airq_common::synth::{feed_bytes, SynthConfig};
use airq_common::time::parse_query_timestamp;

use crate::{args, gateway_with};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Nothing listens: every request fails to connect, so the run measured nothing and exits 1 saying so, without
/// `--fail-if`. Without `--span` it also says it fell back to the default span.
#[test]
fn a_run_against_a_closed_port_exits_non_zero() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let out = Command::new(env!("CARGO_BIN_EXE_airq-loadtest"))
        .args([url.as_str(), "-n", "3", "-c", "1", "-q", "--timeout", "10s"])
        .env_remove("AIRQ_API_KEY")
        .stdin(Stdio::null())
        .output()
        .expect("run airq-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "FAILED: could not connect to {url}: all 3 requests failed to connect"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("no --span, and the target's data span is unknown")
            && stderr.contains("using 2019-04-16T00:00:00Z,2019-04-17T00:00:00Z"),
        "{stderr}"
    );
}

/// Every request refused (a 4xx) is no measurement either: exit 1 naming the errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_where_every_request_fails_exits_non_zero() {
    let (base, system, dir) = gateway_with(100, crate::SAMPLE).await;
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"startDate\": \"yesterday\", \"endDate\": \"2019-04-17\"}\n",
    )
    .expect("write");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_airq-loadtest"))
        .args([base.as_str(), "-n", "2", "-c", "1", "-q", "--queries"])
        .arg(&bad)
        .env_remove("AIRQ_API_KEY")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run airq-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED: no request succeeded: all 2 failed (http4xx: 2)"),
        "{stdout}"
    );
    system.shutdown().await.expect("stop");
}

/// A gateway whose data is not on the default day (2019-04-16): a run without `--span` reads the data's span
/// from `/api/status` and every generated query finds readings. With the old fixed default every answer would
/// be the CSV header alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_span_the_queries_cover_the_targets_data() {
    let start = parse_query_timestamp("2021-03-01T00:00:00Z").expect("time");
    let feed = feed_bytes(&SynthConfig {
        sensors: 50,
        hours: 3,
        interval_secs: 300,
        seed: 3,
        start,
    });
    let (base, system, _dir) = gateway_with(100, &feed).await;

    let (span, origin) = airq_loadtest::span::resolve(None, &base, None)
        .await
        .expect("resolve");
    assert_eq!(origin, airq_loadtest::span::Origin::Target);
    assert!(
        span.0 >= start && span.1 < start + 3 * 3600 && span.0 < span.1,
        "{span:?}"
    );

    let mut a = args(&base);
    a.mix.span = None;
    a.mix.countries = String::new();
    a.mix.window = std::time::Duration::from_secs(1800);
    a.requests = Some(20);
    a.concurrency = 2;
    a.no_gzip = true;
    let (report, _) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(report.ok, 20, "{}", report.summary());
    // 50 sensors every 5 minutes for 30 minutes: hundreds of rows per answer, far more than a header's 100 bytes.
    assert!(
        report.bytes_received > 20 * 10_000,
        "answers look empty: {} bytes\n{}",
        report.bytes_received,
        report.summary()
    );
    system.shutdown().await.expect("stop");
}

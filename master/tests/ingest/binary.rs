//! The `airq-master` binary as a user runs it: its report and exit status, the `--create` rule, and
//! `--metrics-listen`.

use serde_json::Value;

use crate::sample;

#[test]
fn the_binary_reports_and_sets_its_exit_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("airq.db").display());
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_airq-master"))
        .args([
            "ingest",
            "--source",
            sample().to_str().expect("utf8"),
            "--store",
            &url,
            "--create",
        ])
        .output()
        .expect("run");
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("readings written:  140"), "{out}");
    assert!(out.contains("records seen:      243"), "{out}");

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_airq-master"))
        .args([
            "ingest",
            "--source",
            "/nonexistent/feed.json",
            "--store",
            &url,
        ])
        .output()
        .expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/feed.json"));

    let bytes = std::fs::read(sample()).expect("read");
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("write");
    let damaged = std::process::Command::new(env!("CARGO_BIN_EXE_airq-master"))
        .args([
            "ingest",
            "--source",
            cut.to_str().expect("utf8"),
            "--store",
            &url,
            "--json",
        ])
        .output()
        .expect("run");
    assert!(!damaged.status.success());
    let summary: Value = serde_json::from_slice(&damaged.stdout).expect("json summary");
    assert!(summary["damage"][0]["offset"].as_u64().is_some());
    assert_eq!(summary["damage"][0]["kind"], "truncated");
    assert!(summary["readings_written"]
        .as_u64()
        .is_some_and(|n| n > 0 && n < 140));
    for key in [
        "records_seen",
        "skipped_total",
        "elapsed_secs",
        "records_per_sec",
        "readings_per_sec",
    ] {
        assert!(summary[key].is_number(), "{key} in {summary}");
    }
}

/// Issue 10, finding 8: with the store moved away, the next ingest silently created a new, empty file at the
/// path (a split brain: running processes on the old inode, new ones on the new file). Now only `--create`
/// makes a store; without it a missing file is an error naming the flag, and nothing is created.
#[test]
fn a_missing_store_is_created_only_with_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    let url = format!("sqlite://{}", db.display());
    let ingest = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airq-master"))
            .args(["ingest", "--source", sample().to_str().expect("utf8")])
            .args(["--store", &url])
            .args(extra)
            .output()
            .expect("run")
    };
    let refused = ingest(&[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--create") && stderr.contains("airq.db"),
        "{stderr}"
    );
    assert!(!db.exists(), "nothing was created");

    assert!(ingest(&["--create"]).status.success(), "a first run");
    assert!(ingest(&[]).status.success(), "the store exists now");
    assert!(
        ingest(&["--create"]).status.success(),
        "--create on an existing store is harmless"
    );

    std::fs::rename(&db, dir.path().join("moved.db")).expect("move");
    let _ = std::fs::remove_file(dir.path().join("airq.db-wal"));
    let _ = std::fs::remove_file(dir.path().join("airq.db-shm"));
    assert!(
        !ingest(&[]).status.success(),
        "a moved store is not replaced"
    );
    assert!(!db.exists());
}

/// The master serves `/metrics` on `--metrics-listen` while it runs on a schedule: promtool accepts it and
/// the run's readings, skips and success time are there (issue 11).
#[test]
fn the_master_serves_metrics_while_it_runs() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("airq.db").display());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_airq-master"))
        .args(["ingest", "--source", sample().to_str().expect("utf8")])
        .args(["--store", &url, "--create", "--every", "1h"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("read the metrics address");
    let addr = line
        .trim()
        .strip_prefix("airq-master: metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_string();
    let scrape = || {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: metrics\r\n\r\n")
            .expect("send");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read");
        reply
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let text = loop {
        let text = scrape();
        if airq_common::testing::prometheus::value(&text, "airq_ingest_runs_total", &[]) >= 1.0 {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run recorded: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    airq_common::testing::prometheus::promtool_check(&text);
    let value = |name: &str, labels: &[(&str, &str)]| {
        airq_common::testing::prometheus::value(&text, name, labels)
    };
    assert_eq!(
        value("airq_ingest_runs_total", &[("outcome", "complete")]),
        1.0
    );
    assert_eq!(value("airq_ingest_readings_written_total", &[]), 140.0);
    assert_eq!(
        value("airq_ingest_records_skipped_total", &[]),
        103.0,
        "243 seen, 140 kept"
    );
    assert!(value("airq_ingest_last_success_timestamp_seconds", &[]) > 1.7e9);
    assert_eq!(value("airq_build_info", &[("role", "master")]), 1.0);
}

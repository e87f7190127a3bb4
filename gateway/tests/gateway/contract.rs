//! Issue 12's contract test: an independent, property-based API tester (schemathesis, installed into the test
//! venv by `scripts/emulator-setup`) fuzzes a running standalone airq through its own `/openapi.json`: no
//! response may be a 5xx, and every status, content type and JSON body must be what the description says.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::processes::Proc;

fn schemathesis() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/schemathesis");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/emulator-setup (the README's test command does)",
        venv.display()
    );
    venv
}

/// Starts `airq-gateway --standalone` (bundled data, embedded store) in a fresh directory; returns it and its
/// base URL once ready.
async fn standalone(dir: &tempfile::TempDir) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airq-gateway"))
        .args(["--standalone", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let proc = Proc(child);
    let first = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("a banner").expect("line");
        // Keep draining the banner so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        first
    })
    .await
    .expect("banner");
    let base = first
        .strip_prefix("airq-gateway listening on ")
        .expect("the listening line")
        .to_string();
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (proc, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let tool = schemathesis();
    let dir = tempfile::tempdir().expect("tempdir");
    let (proc, base) = standalone(&dir).await;
    let work = tempfile::tempdir().expect("tempdir");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(tool)
            .args([
                "run",
                &format!("{base}/openapi.json"),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                "40",
                "--seed",
                "12",
                "--request-timeout",
                "20",
                "--generation-database",
                "none",
                "--no-color",
            ])
            // schemathesis writes its caches into the working directory.
            .current_dir(work.path())
            .output()
            .expect("run schemathesis")
    })
    .await
    .expect("schemathesis");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}"
    );
    // It ran the operations, not nothing.
    assert!(report.contains("/api/query"), "{report}");
    proc.signal("TERM");
}

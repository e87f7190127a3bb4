//! Issue 12's contract test: an independent, property-based API tester (schemathesis, installed into the test
//! venv by `scripts/emulator-setup`) fuzzes a running standalone airq through its own `/openapi.json`: no
//! response may be a 5xx, and every status, content type and JSON body must be what the description says.

use std::path::PathBuf;
use std::process::Command;

use crate::processes::standalone;

fn schemathesis() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/schemathesis");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/emulator-setup (the README's test command does)",
        venv.display()
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let tool = schemathesis();
    let dir = tempfile::tempdir().expect("tempdir");
    let (proc, base, _banner) = standalone(&dir).await;
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

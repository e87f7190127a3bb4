//! Helpers for tests that run airq's binaries or wait for something to happen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// Another package's binary of this build, next to `beside` (a binary of the calling package, from
/// `env!("CARGO_BIN_EXE_…")`). Cargo gives tests only their own package's binaries, so the binary is built once
/// per test process (in the profile the tests run in), which also keeps it up to date.
///
/// The build selects what `cargo test --workspace` selects (every package's tests and binaries), not just
/// `package`: cargo resolves features over the selected packages and targets, so `cargo build -p airq-worker`
/// alone would resolve other features for shared dependencies (aws-lc-sys, tokio, ...) and compile a second
/// copy of them beside the test run's. Under `cargo test --workspace` this build finds everything fresh and
/// writes nothing; a second copy once filled a CI machine's disk.
pub fn workspace_binary(beside: &Path, package: &str, bin: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(bin) {
        return path.clone();
    }
    let path = beside.with_file_name(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--workspace", "--tests", "--bins"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "building the workspace for {package}'s {bin} failed"
    );
    assert!(path.exists(), "{} missing after build", path.display());
    built.insert(bin.to_string(), path.clone());
    path
}

/// Polls `condition` every 50 ms until it holds; fails the test after `timeout`, naming `what`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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
/// writes nothing; a second copy once filled a CI machine's disk. For the same reason it runs without the
/// variables cargo sets for a test process ([`set_by_cargo_for_the_test`]).
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
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_the_test) {
            build.env_remove(name);
        }
    }
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

/// Whether `name` is one of the variables cargo sets for the test process it runs (the package's name,
/// version, manifest folder, ...), not one configuring cargo. Build scripts rerun when such a variable changes
/// (ring's reads `CARGO_PKG_NAME` and `CARGO_MANIFEST_DIR`), so a build inheriting the test's values would
/// rebuild ring and everything above it, the AWS SDK included, in every test process that asks for a binary.
fn set_by_cargo_for_the_test(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
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

#[cfg(test)]
mod tests {
    use super::set_by_cargo_for_the_test;

    #[test]
    fn the_test_process_own_cargo_variables_are_told_from_cargo_settings() {
        // Cargo sets these for this very process; a build that inherited them would rerun ring's build script.
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"] {
            assert!(
                std::env::var_os(name).is_some(),
                "cargo sets {name} for tests"
            );
            assert!(set_by_cargo_for_the_test(name), "{name}");
        }
        assert!(set_by_cargo_for_the_test("CARGO_BIN_EXE_airq-worker"));
        assert!(set_by_cargo_for_the_test("OUT_DIR"));
        // Settings of cargo itself pass through.
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_INCREMENTAL",
            "CARGO_BUILD_JOBS",
        ] {
            assert!(!set_by_cargo_for_the_test(name), "{name}");
        }
    }
}

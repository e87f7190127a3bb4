//! The airq-deploy binary itself: arguments, exit codes, and refusals.

use std::process::{Command, Stdio};

use airq_common::testing::emulator::Emulator;

use crate::support::{keys_file, unique_stack};

fn airq_deploy() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airq-deploy"));
    c.stdin(Stdio::null());
    for (k, v) in Emulator::shared().env() {
        c.env(k, v);
    }
    c
}

/// A stack with its table, queues, groups and templates but no instances.
fn up_empty_stack(stack: &str) {
    let up = airq_deploy()
        .args([
            "--stack",
            stack,
            "up",
            "--allow-cidr",
            "10.0.0.0/8",
            "--artifact",
            "https://example.org/a.tar.gz",
        ])
        .args(["--gateways", "0", "--no-master", "--workers", "0"])
        .args(["--api-keys", keys_file()])
        .output()
        .expect("run");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
}

#[test]
fn up_needs_an_allowed_cidr_and_an_artifact() {
    let out = airq_deploy()
        .args(["up", "--artifact", "x.tar.gz"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-cidr"));
    let out = airq_deploy()
        .args(["up", "--allow-cidr", "10.0.0.0/8"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--artifact"));
}

#[test]
fn bad_input_is_refused_before_anything_is_done() {
    for (args, expected) in [
        (vec!["--stack", "Prod", "status"], "invalid stack name"),
        (
            vec!["up", "--allow-cidr", "10.0.0.0/40", "--artifact", "x"],
            "prefix length",
        ),
        (
            vec![
                "up",
                "--allow-cidr",
                "10.0.0.0/8",
                "--artifact",
                "http://example.org/a.tar.gz",
                "--no-api-keys",
            ],
            "plain http is refused",
        ),
        (
            vec![
                "up",
                "--allow-cidr",
                "10.0.0.0/8",
                "--artifact",
                "https://example.org/a.tar.gz",
            ],
            "the gateways need API keys: make a keys file with `airq-gateway new-api-key NAME >> FILE`",
        ),
        (
            vec![
                "plan",
                "--allow-cidr",
                "10.0.0.0/8",
                "--artifact",
                "https://example.org/a.tar.gz",
                "--api-keys",
                "/nonexistent/keys",
                "--no-api-keys",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "up",
                "--allow-cidr",
                "10.0.0.0/8",
                "--artifact",
                "/nonexistent/airq.tar.gz",
                "--no-api-keys",
            ],
            "/nonexistent/airq.tar.gz",
        ),
        (
            vec![
                "--provider",
                "local",
                "up",
                "--allow-cidr",
                "10.0.0.0/8",
                "--artifact",
                "x",
            ],
            "status, scale and autoscale only",
        ),
        (
            vec![
                "--provider",
                "local",
                "autoscale",
                "--min",
                "3",
                "--max",
                "2",
                "--worker-bin",
                "/bin/true",
            ],
            "--min (3) is above --max (2)",
        ),
    ] {
        let out = airq_deploy().args(&args).output().expect("run");
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn down_asks_for_confirmation_and_refuses_without_a_terminal() {
    let stack = unique_stack("d");
    up_empty_stack(&stack);
    let down = airq_deploy()
        .args(["--stack", &stack, "down"])
        .output()
        .expect("run");
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("pass --yes"));
    // Nothing was removed.
    let status = airq_deploy()
        .args(["--stack", &stack, "--json", "status"])
        .output()
        .expect("run");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(
        status["queue"]["visible"], 0,
        "the request queue still exists: {status}"
    );
    let down = airq_deploy()
        .args(["--stack", &stack, "down", "--yes", "--delete-data"])
        .output()
        .expect("run");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}

/// `down` at a terminal: the wrong answer removes nothing, the stack's name removes it. The terminal is a real
/// pseudo-terminal from util-linux's `script`.
#[test]
fn down_at_a_terminal_removes_only_after_the_stack_name_is_typed() {
    let stack = unique_stack("t");
    up_empty_stack(&stack);
    let at_terminal = |answer: &str| {
        use std::io::Write;
        let command = format!(
            "{} --stack {stack} down --delete-data",
            env!("CARGO_BIN_EXE_airq-deploy")
        );
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .envs(Emulator::shared().env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux) runs the command at a pseudo-terminal");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{answer}\n").as_bytes())
            .expect("answer");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = at_terminal("not-the-name");
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("type the stack name ({stack})")),
        "{out}"
    );
    assert!(out.contains("not confirmed; nothing was removed"), "{out}");
    let (ok, out) = at_terminal(&stack);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("stack {stack} removed")), "{out}");
    let status = airq_deploy()
        .args(["--stack", &stack, "status"])
        .output()
        .expect("run");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("request queue: does not exist")
            && status.contains("table: does not exist"),
        "{status}"
    );
}

/// `plan --artifact README.md` is refused before anything else, naming what is wrong, and so is a tarball that
/// lacks a binary or its `.sha256`. Refused before AWS is asked anything: with no AWS set-up at all the error
/// is still about the artifact, not the credentials.
#[test]
fn plan_refuses_an_artifact_that_is_not_a_package() {
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let dir = tempfile::tempdir().expect("tempdir");
    let partial = crate::support::package_of(
        &dir.path().join("partial.tar.gz"),
        &["bin/airq-gateway", "bin/airq-worker", "README.md"],
    );
    let unsummed = crate::support::artifact_file(dir.path());
    std::fs::remove_file(airq_deploy::package::checksum_path(&unsummed)).expect("rm .sha256");
    for (artifact, expected) in [
        (
            readme.to_string(),
            format!(
                "airq-deploy: --artifact {readme}: it is not a gzip-compressed tar (.tar.gz); scripts/package \
                 makes one"
            ),
        ),
        (
            partial.display().to_string(),
            format!(
                "airq-deploy: --artifact {}: it lacks bin/airq-master: not a package made by scripts/package",
                partial.display()
            ),
        ),
        (
            unsummed.display().to_string(),
            format!(
                "airq-deploy: --artifact {0}: {0}.sha256 is not beside it: scripts/package writes the package's \
                 SHA-256 there",
                unsummed.display()
            ),
        ),
    ] {
        let args = [
            "plan",
            "--allow-cidr",
            "10.0.0.0/8",
            "--artifact",
            &artifact,
            "--no-api-keys",
        ];
        // On the emulator, and on a machine with no AWS set-up at all.
        let mut bare = Command::new(env!("CARGO_BIN_EXE_airq-deploy"));
        bare.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null());
        for mut command in [airq_deploy(), bare] {
            let out = command.args(args).output().expect("run");
            assert_eq!(out.status.code(), Some(1), "{artifact}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr).trim_end(),
                expected,
                "{artifact}"
            );
        }
    }
}

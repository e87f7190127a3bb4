//! The binary on a machine without AWS: commands that need no AWS never load the AWS configuration (which would
//! probe the instance metadata service), and a command that needs AWS on a machine with no credentials or region
//! says in one sentence how to set them. Each run has an empty HOME and no AWS variables but the ones named.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use airq_common::store::sqlite::SqliteStore;

/// `airq-deploy ARGS` with nothing of this machine's AWS set-up: HOME is `home` (empty), and the environment
/// holds only PATH and `env`.
fn bare_deploy(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airq-deploy"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run airq-deploy")
}

/// A loopback listener standing in for the instance metadata service: anything that loads the AWS configuration
/// without a region connects to it.
fn metadata_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, url)
}

/// `--provider local status` and `iam-policy --trust` succeed without touching AWS: the metadata endpoint they
/// are pointed at sees no connection. Before, the AWS configuration was loaded first for every command, and
/// it asked the metadata service for a region (and logged its failure twice).
#[test]
fn commands_that_need_no_aws_never_load_its_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    SqliteStore::open(db.to_str().expect("utf8")).expect("store");
    let url = format!("sqlite://{}", db.display());
    let state = dir.path().join("stack");
    let (listener, imds) = metadata_listener();
    let env = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str())];
    let home = tempfile::tempdir().expect("home");
    let local = [
        "--provider",
        "local",
        "--state-dir",
        state.to_str().expect("utf8"),
        "--store",
        &url,
        "--queue",
        &url,
    ];
    for args in [
        [&local[..], &["status"]].concat(),
        vec!["iam-policy", "--trust"],
        vec![
            "iam-policy",
            "--account",
            "123456789012",
            "--region",
            "eu-west-1",
        ],
    ] {
        let out = bare_deploy(home.path(), &env, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("WARN") && !stderr.contains("169.254"),
            "{args:?}: {stderr}"
        );
        assert!(
            listener.accept().is_err(),
            "{args:?} connected to the instance metadata endpoint: it loaded the AWS configuration"
        );
    }
    // The check itself can see a connection: a command that needs AWS, with no region, does connect.
    let out = bare_deploy(home.path(), &env, &["status"]);
    assert!(!out.status.success());
    assert!(
        listener.accept().is_ok(),
        "the metadata listener saw nothing even from a command that loads the AWS configuration"
    );
}

/// No credentials and no region anywhere: one line, saying what to set, and a non-zero exit; no log lines of
/// the SDK's probes, no error dump. Also with the metadata service left on but unreachable (a closed loopback
/// port), as on a laptop.
#[test]
fn without_credentials_or_region_one_sentence_says_how_to_set_them() {
    let home = tempfile::tempdir().expect("home");
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let nothing = [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", closed.as_str()),
    ];
    let unreachable_metadata = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed.as_str()),
        ("AWS_ENDPOINT_URL", closed.as_str()),
    ];
    for env in [&nothing[..], &unreachable_metadata[..]] {
        let out = bare_deploy(home.path(), env, &["status"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{env:?}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            "airq-deploy: no AWS credentials and no AWS region found: set AWS_PROFILE to a profile made with \
             `aws configure` (or run `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), and \
             set AWS_REGION (or a region in your AWS profile) or pass --region",
            "{env:?}"
        );
        assert!(out.stdout.is_empty(), "{env:?}");
    }
    // A region but no credentials: the sentence names only what is missing.
    let region = [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", closed.as_str()),
        ("AWS_REGION", "eu-west-1"),
    ];
    let out = bare_deploy(home.path(), &region, &["status"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "airq-deploy: no AWS credentials found: set AWS_PROFILE to a profile made with `aws configure` (or run \
         `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    );
}

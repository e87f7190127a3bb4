//! The gateways' API keys end to end on the emulator: `up` refuses without keys or an explicit opt-out, and a bad
//! keys file, before anything exists; the gateway's user data holds the hash and the flag, never the key; the
//! same keys are a no-op however the file is written; changed keys are a new gateway template version; and an
//! open stack says so in `plan` and `status`.

use airq_common::api_keys::{file_line, new_key};
use airq_deploy::aws::{ec2, Aws};
use airq_deploy::error::DeployError;
use airq_deploy::stack::Role;
use aws_sdk_ec2::types::InstanceAttributeName;
use base64::Engine as _;

use crate::support::{deploy, deploy_ok, live_counts, shared_config, unique_stack};

/// `--stack STACK COMMAND` with one gateway, no master and no workers, and `extra` options.
fn args<'a>(stack: &'a str, command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--stack",
        stack,
        command,
        "--allow-cidr",
        "203.0.113.0/24",
        "--artifact",
        "https://example.org/airq.tar.gz",
        "--gateways",
        "1",
        "--no-master",
        "--workers",
        "0",
    ];
    args.extend_from_slice(extra);
    args
}

/// Nothing of the stack exists: no table, no queue, no template, no instance.
async fn assert_nothing(aws: &Aws) {
    assert!(airq_deploy::aws::table::find(aws)
        .await
        .expect("table")
        .is_none());
    assert!(airq_deploy::aws::queues::list_stack_queues(aws)
        .await
        .expect("queues")
        .is_empty());
    assert!(ec2::find_templates(aws)
        .await
        .expect("templates")
        .is_empty());
    assert!(live_counts(aws).await.is_empty());
}

/// The user data of the stack's live gateways.
async fn gateway_user_data(aws: &Aws) -> Vec<String> {
    let mut scripts = Vec::new();
    for i in ec2::instances(aws).await.expect("instances") {
        if i.role != Role::Gateway || !i.is_live() {
            continue;
        }
        let attr = aws
            .ec2
            .describe_instance_attribute()
            .instance_id(&i.id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .expect("user data");
        let encoded = attr.user_data().and_then(|u| u.value()).expect("user data");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        scripts.push(String::from_utf8(bytes).expect("utf8"));
    }
    scripts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_or_a_bad_keys_file_nothing_is_made() {
    let config = shared_config().await;
    let stack = unique_stack("k");
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    for command in ["plan", "up"] {
        let (result, out) = deploy(&config, &args(&stack, command, &[])).await;
        let err = result.expect_err("no keys, no opt-out");
        assert!(matches!(err, DeployError::NoApiKeys), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("`airq-gateway new-api-key NAME >> FILE`")
                && message.contains("--api-keys FILE")
                && message.contains("--no-api-keys"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        assert!(out.is_empty(), "{out}");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let key = new_key();
    let bad = [
        // A hash cut short on line 3.
        (
            format!("# keys\n{}\nbob sha256:abcd\n", file_line("alice", &key)),
            "line 3: the hash must be 64 hex digits",
        ),
        // The key itself where its line belongs (new-api-key's stderr appended instead of its stdout).
        (
            format!("{}\n{key}\n", file_line("alice", &key)),
            "line 2 holds an API key itself",
        ),
        ("# nobody yet\n".to_string(), "has no keys"),
    ];
    for (n, (text, expected)) in bad.iter().enumerate() {
        let path = dir.path().join(format!("keys-{n}"));
        std::fs::write(&path, text).expect("write");
        let path = path.to_str().expect("utf8");
        let (result, _) = deploy(&config, &args(&stack, "up", &["--api-keys", path])).await;
        let err = result.expect_err("a bad keys file");
        let message = err.to_string();
        assert!(matches!(err, DeployError::ApiKeys { .. }), "{err:?}");
        assert!(
            message.contains(&format!("--api-keys {path}: ")) && message.contains(expected),
            "{message}"
        );
        assert!(
            !message.contains(&key[5..]),
            "the error shows the key: {message}"
        );
    }
    let missing = dir.path().join("missing");
    let (result, _) = deploy(
        &config,
        &args(
            &stack,
            "up",
            &["--api-keys", missing.to_str().expect("utf8")],
        ),
    )
    .await;
    let message = result.expect_err("no such file").to_string();
    assert!(message.contains("reading --api-keys"), "{message}");
    assert_nothing(&aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_get_the_hashes_and_changed_keys_are_a_new_gateway_template() {
    let config = shared_config().await;
    let stack = unique_stack("h");
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("api-keys");
    let keys_path = keys.to_str().expect("utf8");
    let (alice, bob) = (new_key(), new_key());
    let (alice_line, bob_line) = (file_line("alice", &alice), file_line("bob", &bob));
    std::fs::write(&keys, format!("# team\n{alice_line}\n{bob_line}\n")).expect("write");
    let with_keys = args(&stack, "up", &["--api-keys", keys_path]);

    deploy_ok(&config, &with_keys).await;
    let scripts = gateway_user_data(&aws).await;
    assert_eq!(scripts.len(), 1);
    let script = &scripts[0];
    assert!(
        script.contains(&format!("<<'KEYS'\n{alice_line}\n{bob_line}\nKEYS\n")),
        "{script}"
    );
    assert!(
        script.contains("ExecStart=/opt/airq/bin/airq-gateway --direct-limit 100 --api-keys /etc/airq/api-keys\n"),
        "{script}"
    );
    for key in [&alice, &bob] {
        assert!(!script.contains(&key[5..]), "a key reached the instance");
    }
    assert!(
        !script.contains("# team"),
        "comments stay on the operator's machine"
    );

    // The same keys, however the file is written: nothing to do.
    let again = deploy_ok(&config, &with_keys).await;
    assert!(again.starts_with("no changes"), "{again}");
    std::fs::write(&keys, format!("{bob_line}\n\n# reordered\n{alice_line}\n")).expect("write");
    let again = deploy_ok(&config, &with_keys).await;
    assert!(again.starts_with("no changes"), "{again}");

    // A revoked key: a new version of the gateway template only; the running gateway keeps the old file.
    std::fs::write(&keys, format!("{alice_line}\n")).expect("write");
    let plan = deploy_ok(&config, &args(&stack, "plan", &["--api-keys", keys_path])).await;
    let changes: Vec<&str> = plan
        .lines()
        .filter(|l| l.starts_with(['+', '~', '-']))
        .collect();
    assert_eq!(
        changes,
        ["~ launch template for gateway: new version (launch settings changed); running instances keep theirs"],
        "{plan}"
    );
    assert!(
        plan.contains("1 running gateway(s) keep their settings and API keys until replaced"),
        "{plan}"
    );
    deploy_ok(&config, &with_keys).await;
    let templates = ec2::find_templates(&aws).await.expect("templates");
    assert_eq!(templates[&Role::Gateway].default_version, 2);
    assert_eq!(templates[&Role::Worker].default_version, 1);
    let status = deploy_ok(&config, &["--stack", &stack, "status"]).await;
    assert!(
        status.contains("gateway API: API keys required (2 keys, file "),
        "{status}"
    );
    deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stack_is_asked_for_and_says_so() {
    let config = shared_config().await;
    let stack = unique_stack("n");
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    let open = args(&stack, "up", &["--no-api-keys"]);
    let plan = deploy_ok(&config, &args(&stack, "plan", &["--no-api-keys"])).await;
    assert!(
        plan.contains("note: --no-api-keys: the gateways' API is open"),
        "{plan}"
    );
    deploy_ok(&config, &open).await;
    let scripts = gateway_user_data(&aws).await;
    assert_eq!(scripts.len(), 1);
    assert!(
        scripts[0].contains("airq-gateway --direct-limit 100 --no-api-keys\n"),
        "{}",
        scripts[0]
    );
    assert!(!scripts[0].contains("/etc/airq/api-keys"), "{}", scripts[0]);
    let again = deploy_ok(&config, &open).await;
    assert!(again.starts_with("no changes"), "{again}");
    let status = deploy_ok(&config, &["--stack", &stack, "status"]).await;
    assert!(status.contains("gateway API: API open"), "{status}");
    let json = deploy_ok(&config, &["--stack", &stack, "--json", "status"]).await;
    let json: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    let gateway = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["role"] == "gateway")
        .cloned()
        .expect("a gateway");
    assert_eq!(gateway["api"]["mode"], "open", "{json}");
    deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

//! plan, up, status, scale and down end to end against the AWS emulator: what appears, with which tags and
//! settings, and what disappears. `changes` has what later `up`s change (settings, builds, regions); `results`
//! checks the result store's table and bucket; `api_keys` the gateways' keys.

use std::collections::BTreeMap;

use airq_deploy::aws::{ec2, Aws};
use airq_deploy::stack::{GroupKind, Role, StackName, TAG_ROLE, TAG_STACK};
use aws_sdk_ec2::types::InstanceAttributeName;
use base64::Engine as _;

use crate::support::{
    artifact_file, deploy_args_ok, deploy_ok, keys_file, live_counts, shared_config, unique_stack,
    up_args,
};

fn counts(g: usize, m: usize, w: usize) -> BTreeMap<Role, usize> {
    [(Role::Gateway, g), (Role::Master, m), (Role::Worker, w)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
}

async fn queue_names(aws: &Aws) -> Vec<String> {
    let mut names: Vec<String> = airq_deploy::aws::queues::list_stack_queues(aws)
        .await
        .expect("queues")
        .iter()
        .map(|u| airq_deploy::aws::queues::name_of(u).to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_up_status_scale_down_end_to_end() {
    // Outside us-east-1, where S3 buckets need a location constraint.
    let endpoint = airq_common::testing::emulator::Emulator::shared()
        .endpoint
        .clone();
    let config = crate::support::config_in(&endpoint, None, "eu-west-1").await;
    let stack = unique_stack("e");
    let dir = tempfile::tempdir().expect("tempdir");
    let artifact = artifact_file(dir.path());
    let api_key = &crate::support::test_keys().key;
    let keys_line = airq_common::api_keys::file_line("tests", api_key);
    let aws = Aws::new(&config, stack.parse::<StackName>().expect("stack")).expect("aws");
    let stack_args = |cmd: &'static str| -> Vec<String> {
        [
            "--stack",
            &stack,
            cmd,
            "--allow-cidr",
            "203.0.113.0/24",
            "--artifact",
            artifact.to_str().expect("utf8"),
            "--workers",
            "2",
            "--max-receives",
            "3",
            "--instance-profile",
            "airq-instances",
            "--api-keys",
            keys_file(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    // plan: lists everything, creates nothing.
    let plan = deploy_ok(&config, &args(&stack_args("plan"))).await;
    for expected in [
        format!("+ dynamodb table airq-{stack}-readings"),
        format!("+ dynamodb table airq-{stack}-results"),
        format!("+ s3 bucket airq-{stack}-results-"),
        format!("+ sqs queue airq-{stack}-requests-dlq"),
        format!(
            "+ sqs queue airq-{stack}-requests (to airq-{stack}-requests-dlq after 3 receives)"
        ),
        format!("+ s3 bucket airq-{stack}-artifacts-"),
        format!("+ security group airq-{stack}-gateway"),
        format!("+ security group airq-{stack}-gateway rule: allow tcp 8080 from 203.0.113.0/24"),
        format!("+ security group airq-{stack}-private"),
        "+ launch template for worker".to_string(),
        "+ 1 gateway instance(s)".to_string(),
        "+ 1 master instance(s)".to_string(),
        "+ 2 worker instance(s)".to_string(),
    ] {
        assert!(plan.contains(&expected), "plan lacks {expected:?}:\n{plan}");
    }
    assert!(airq_deploy::aws::table::find(&aws)
        .await
        .expect("table")
        .is_none());
    assert!(live_counts(&aws).await.is_empty());
    assert!(queue_names(&aws).await.is_empty());

    // up: everything appears, tagged.
    let out = deploy_ok(&config, &args(&stack_args("up"))).await;
    assert!(out.contains("done: "), "{out}");
    assert_eq!(live_counts(&aws).await, counts(1, 1, 2));
    let table = airq_deploy::aws::table::find(&aws)
        .await
        .expect("table")
        .expect("exists");
    assert!(table.state.active && table.state.tagged);
    // The result store: its table (TTL on forget_at) and its private bucket (lifecycle rule), both tagged; the
    // bucket is the one the plan named.
    let results_bucket = results::assert_made(&aws).await;
    assert!(
        plan.contains(&format!("+ s3 bucket {results_bucket} (private; ")),
        "{results_bucket}:\n{plan}"
    );
    assert_eq!(
        queue_names(&aws).await,
        [
            format!("airq-{stack}-requests"),
            format!("airq-{stack}-requests-dlq")
        ]
    );
    let request = airq_deploy::aws::queues::find(&aws, &aws.stack.request_queue())
        .await
        .expect("find")
        .expect("request queue");
    assert_eq!(request.state.max_receives, Some(3));
    assert!(request.state.tagged);
    // The gateways' group opens the gateway port to the allowed CIDR; the master's and workers' opens nothing.
    let groups = ec2::find_groups(&aws).await.expect("groups");
    assert_eq!(
        groups[&GroupKind::Gateway].ingress,
        vec![airq_deploy::plan::Ingress::tcp(8080, "203.0.113.0/24")]
    );
    assert_eq!(groups[&GroupKind::Private].ingress, vec![]);
    let bucket = airq_deploy::aws::artifact::find_bucket(&aws)
        .await
        .expect("bucket")
        .expect("exists");
    // The bucket is the one the plan named.
    assert!(
        plan.contains(&format!("+ s3 bucket {bucket} (private)")),
        "{bucket}:\n{plan}"
    );
    let (sha, _) = airq_deploy::aws::artifact::checksum(&artifact).expect("sha");
    let key = airq_deploy::aws::artifact::key_for(&sha);
    assert!(
        airq_deploy::aws::artifact::object_exists(&aws, &bucket, &key)
            .await
            .expect("head")
    );

    // Every instance carries the stack and role tags, and the user data of its role.
    let described = aws
        .ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{TAG_STACK}"))
                .values(&stack)
                .build(),
        )
        .send()
        .await
        .expect("describe");
    let instances: Vec<_> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect();
    assert_eq!(instances.len(), 4);
    for instance in &instances {
        let role = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(TAG_ROLE))
            .and_then(|t| t.value())
            .expect("role tag")
            .to_string();
        let kind = GroupKind::of(role.parse().expect("a role"));
        let in_groups: Vec<&str> = instance
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .collect();
        assert_eq!(in_groups, [groups[&kind].id.as_str()], "{role}");
        let attr = aws
            .ec2
            .describe_instance_attribute()
            .instance_id(instance.instance_id().expect("id"))
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .expect("user data");
        let encoded = attr
            .user_data()
            .and_then(|u| u.value())
            .expect("has user data");
        let script = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .expect("base64"),
        )
        .expect("utf8");
        assert!(
            script.contains(&format!("ROLE={role}\n")),
            "{role}: {script}"
        );
        assert!(
            script.contains(&format!("ARTIFACT='s3://{bucket}/{key}'")),
            "{script}"
        );
        assert!(script.contains(&format!("ARTIFACT_SHA256='{sha}'")));
        assert!(script.contains(&format!("AIRQ_STORE=dynamodb://airq-{stack}-readings")));
        // Gateways and workers share queued queries' answers through the result store; the master does not.
        let results_url =
            format!("AIRQ_RESULTS=dynamodb://airq-{stack}-results?bucket={results_bucket}\n");
        if role == "master" {
            assert!(!script.contains("AIRQ_RESULTS"), "{script}");
        } else {
            assert!(script.contains(&results_url), "{role}: {script}");
        }
        // Gateways get the keys file (the hash, never the key) and the flag that makes them use it.
        let gateway = role == "gateway";
        assert_eq!(
            script.contains(&format!("\n{keys_line}\n")),
            gateway,
            "{role}: {script}"
        );
        assert_eq!(
            script.contains(" --api-keys /etc/airq/api-keys\n"),
            gateway,
            "{role}: {script}"
        );
        assert!(
            !script.contains(&api_key[5..]),
            "{role}: the key itself reached the instance"
        );
    }

    // Instances are launched with IMDSv2 required.
    let version = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_name(format!("airq-{stack}-worker"))
        .versions("$Default")
        .send()
        .await
        .expect("template version");
    let data = version.launch_template_versions()[0]
        .launch_template_data()
        .expect("data");
    assert_eq!(
        data.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required")
    );

    // A second up changes nothing.
    let again = deploy_ok(&config, &args(&stack_args("up"))).await;
    assert!(again.starts_with("no changes"), "{again}");
    assert_eq!(live_counts(&aws).await, counts(1, 1, 2));
    let replan = deploy_ok(&config, &args(&stack_args("plan"))).await;
    assert!(replan.starts_with("no changes"), "{replan}");

    // status, as JSON.
    let status = deploy_ok(&config, &["--stack", &stack, "--json", "status"]).await;
    let status: serde_json::Value = serde_json::from_str(status.trim()).expect("status JSON");
    assert_eq!(status["counts"]["gateway"]["running"], 1, "{status}");
    assert_eq!(status["counts"]["master"]["running"], 1);
    assert_eq!(status["counts"]["worker"]["running"], 2);
    let urls = status["gateway_urls"].as_array().expect("urls");
    assert_eq!(urls.len(), 1, "{status}");
    assert!(
        urls[0]
            .as_str()
            .is_some_and(|u| u.starts_with("http://") && u.ends_with(":8080")),
        "{status}"
    );
    // The gateway is tagged with who may use it; status reads it back.
    let gateways: Vec<&serde_json::Value> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["role"] == "gateway")
        .collect();
    assert_eq!(gateways.len(), 1, "{status}");
    assert_eq!(gateways[0]["api"]["mode"], "keys", "{status}");
    assert_eq!(gateways[0]["api"]["keys"], 1, "{status}");
    assert_eq!(status["queue"]["visible"], 0);
    assert_eq!(status["queue"]["dead_lettered"], 0);
    assert_eq!(status["table_items"], 0);
    assert_eq!(
        status["results"]["table"],
        format!("airq-{stack}-results"),
        "{status}"
    );
    assert_eq!(status["results"]["bucket"], results_bucket.as_str());

    // scale out and in; gateways and the master are untouched.
    let out = deploy_ok(&config, &["--stack", &stack, "scale", "--workers", "4"]).await;
    assert!(out.contains("workers: 2 -> 4"), "{out}");
    assert_eq!(live_counts(&aws).await, counts(1, 1, 4));
    let out = deploy_ok(&config, &["--stack", &stack, "scale", "--workers", "1"]).await;
    assert!(out.contains("workers: 4 -> 1"), "{out}");
    assert_eq!(live_counts(&aws).await, counts(1, 1, 1));
    // up leaves a scaled fleet alone when it has at least --workers.
    let out = deploy_args_ok(
        &config,
        &up_args(
            &stack,
            "up",
            artifact.to_str().expect("utf8"),
            &[
                "--max-receives",
                "3",
                "--instance-profile",
                "airq-instances",
            ],
        ),
    )
    .await;
    assert!(out.starts_with("no changes"), "{out}");

    // down without --delete-data keeps the readings table, and removes the result store (emptying its bucket).
    results::put_part(&aws, &results_bucket).await;
    let out = deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--wait", "1m"],
    )
    .await;
    assert!(out.contains("kept: the dynamodb table"), "{out}");
    assert!(
        out.contains(&format!("- s3 bucket {results_bucket} and the answers")),
        "{out}"
    );
    assert!(
        out.contains(&format!("- dynamodb table airq-{stack}-results")),
        "{out}"
    );
    results::assert_gone(&aws, &results_bucket).await;
    assert!(live_counts(&aws).await.is_empty());
    assert!(queue_names(&aws).await.is_empty());
    assert!(ec2::find_groups(&aws).await.expect("groups").is_empty());
    assert!(ec2::find_templates(&aws)
        .await
        .expect("templates")
        .is_empty());
    assert!(airq_deploy::aws::artifact::find_bucket(&aws)
        .await
        .expect("bucket")
        .is_none());
    assert!(airq_deploy::aws::table::find(&aws)
        .await
        .expect("table")
        .is_some());

    // down --delete-data removes the table too; a third down has nothing to do.
    let out = deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
    assert!(
        out.contains(&format!("- dynamodb table airq-{stack}-readings")),
        "{out}"
    );
    assert!(airq_deploy::aws::table::find(&aws)
        .await
        .expect("table")
        .is_none());
    let out = deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
    assert!(out.contains("nothing to remove"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_leaves_other_stacks_alone_and_finds_reply_queues() {
    let config = shared_config().await;
    let (mine, other) = (unique_stack("m"), unique_stack("o"));
    for stack in [&mine, &other] {
        deploy_ok(
            &config,
            &[
                "--stack",
                stack,
                "up",
                "--allow-cidr",
                "198.51.100.0/24",
                "--artifact",
                "https://example.org/airq.tar.gz",
                "--workers",
                "1",
                "--no-master",
                "--gateways",
                "0",
                "--api-keys",
                keys_file(),
            ],
        )
        .await;
    }
    // A reply queue left by a gateway that died.
    let mine_aws = Aws::new(&config, mine.parse().expect("stack")).expect("aws");
    let left = format!("{}-0123456789abcdef", mine_aws.stack.reply_queue_prefix());
    mine_aws
        .sqs
        .create_queue()
        .queue_name(&left)
        .send()
        .await
        .expect("reply queue");
    assert_eq!(queue_names(&mine_aws).await.len(), 3);

    let out = deploy_ok(
        &config,
        &["--stack", &mine, "down", "--yes", "--delete-data"],
    )
    .await;
    assert!(out.contains(&format!("- sqs queue {left}")), "{out}");
    assert!(queue_names(&mine_aws).await.is_empty());
    assert!(live_counts(&mine_aws).await.is_empty());

    let other_aws = Aws::new(&config, other.parse().expect("stack")).expect("aws");
    assert_eq!(live_counts(&other_aws).await, counts(0, 0, 1));
    assert_eq!(queue_names(&other_aws).await.len(), 2);
    assert!(airq_deploy::aws::table::find(&other_aws)
        .await
        .expect("table")
        .is_some());
    deploy_ok(
        &config,
        &["--stack", &other, "down", "--yes", "--delete-data"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_policy_names_the_callers_account_and_the_stacks_resources() {
    let config = shared_config().await;
    let out = deploy_ok(&config, &["--stack", "prod", "iam-policy"]).await;
    let policy: serde_json::Value = serde_json::from_str(&out).expect("json");
    let text = policy.to_string();
    // The emulator's account.
    assert!(
        text.contains("arn:aws:dynamodb:us-east-1:123456789012:table/airq-prod-readings"),
        "{text}"
    );
    assert!(
        text.contains("arn:aws:sqs:us-east-1:123456789012:airq-prod-requests"),
        "{text}"
    );
    let out = deploy_ok(&config, &["--stack", "prod", "iam-policy", "--trust"]).await;
    assert!(out.contains("ec2.amazonaws.com"), "{out}");
    let out = deploy_ok(
        &config,
        &[
            "--stack",
            "prod",
            "iam-policy",
            "--operator",
            "--account",
            "111122223333",
        ],
    )
    .await;
    assert!(out.contains("arn:aws:iam::111122223333:role/*"), "{out}");
}

mod api_keys;
mod changes;
mod metrics;
mod results;

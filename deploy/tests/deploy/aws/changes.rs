//! What a later `up` changes on a stack: new launch settings and rules, a new build rolled out by scaling in,
//! and the same stack name in two regions.

use airq_deploy::aws::{ec2, Aws};
use airq_deploy::stack::{GroupKind, Role};

use super::counts;
use crate::support::{
    artifact_file, deploy, deploy_args_ok, deploy_ok, keys_file, live_counts, shared_config,
    unique_stack, up_args,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_settings_make_a_new_template_version_and_ssh_opens_only_when_asked() {
    let config = shared_config().await;
    let stack = unique_stack("c");
    let base = [
        "--stack",
        &stack,
        "up",
        "--allow-cidr",
        "203.0.113.0/24",
        "--artifact",
        "https://example.org/airq-1.tar.gz",
        "--gateways",
        "0",
        "--no-master",
        "--workers",
        "0",
        "--api-keys",
        keys_file(),
    ];
    deploy_ok(&config, &base).await;
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    let before = ec2::find_templates(&aws).await.expect("templates");
    assert_eq!(before.len(), 3);

    let mut changed = base.to_vec();
    changed[6] = "https://example.org/airq-2.tar.gz";
    changed.extend(["--ssh-cidr", "192.0.2.7/32", "--max-receives", "9"]);
    let (plan_result, plan) =
        deploy(&config, &[&changed[..2], &["plan"], &changed[3..]].concat()).await;
    plan_result.expect("plan");
    assert!(
        plan.contains("~ launch template for worker: new version (launch settings changed)"),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "+ security group airq-{stack}-private rule: allow tcp 22 from 192.0.2.7/32"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "~ sqs queue airq-{stack}-requests: to airq-{stack}-requests-dlq after 9 receives"
        )),
        "{plan}"
    );
    deploy_ok(&config, &changed).await;
    let after = ec2::find_templates(&aws).await.expect("templates");
    for role in Role::ALL {
        assert_eq!(after[&role].id, before[&role].id);
        assert_eq!(
            after[&role].default_version,
            before[&role].default_version + 1,
            "{role}"
        );
    }
    let groups = ec2::find_groups(&aws).await.expect("groups");
    assert_eq!(groups[&GroupKind::Gateway].ingress.len(), 2, "{groups:?}");
    assert_eq!(
        groups[&GroupKind::Private].ingress,
        vec![airq_deploy::plan::Ingress::tcp(22, "192.0.2.7/32")]
    );
    let again = deploy_ok(&config, &changed).await;
    assert!(again.starts_with("no changes"), "{again}");

    // Back without --ssh-cidr: port 22 closes again.
    deploy_ok(&config, &base).await;
    let groups = ec2::find_groups(&aws).await.expect("groups");
    assert_eq!(
        groups[&GroupKind::Gateway].ingress,
        vec![airq_deploy::plan::Ingress::tcp(8080, "203.0.113.0/24")]
    );
    assert_eq!(groups[&GroupKind::Private].ingress, vec![]);

    // Rules added by hand, of other kinds of source (IPv6, another group), are found and revoked by their ids.
    let (gateway, private) = (
        groups[&GroupKind::Gateway].id.clone(),
        groups[&GroupKind::Private].id.clone(),
    );
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&gateway)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(8080)
                .to_port(8080)
                .ipv6_ranges(
                    aws_sdk_ec2::types::Ipv6Range::builder()
                        .cidr_ipv6("::/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("add an IPv6 rule");
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&private)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("-1")
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&gateway)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("add a group rule");
    let (result, plan) = deploy(&config, &[&base[..2], &["plan"], &base[3..]].concat()).await;
    result.expect("plan");
    assert!(
        plan.contains(&format!(
            "- security group airq-{stack}-gateway rule: allow tcp 8080 from ::/0"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "- security group airq-{stack}-private rule: allow all traffic from {gateway}"
        )),
        "{plan}"
    );
    deploy_ok(&config, &base).await;
    let groups = ec2::find_groups(&aws).await.expect("groups");
    assert_eq!(
        groups[&GroupKind::Gateway].ingress,
        vec![airq_deploy::plan::Ingress::tcp(8080, "203.0.113.0/24")]
    );
    assert_eq!(groups[&GroupKind::Private].ingress, vec![]);
    deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_in_retires_workers_of_an_older_build_first() {
    let config = shared_config().await;
    let stack = unique_stack("r");
    let up = |artifact: &'static str, workers: &'static str| {
        let (config, stack) = (config.clone(), stack.clone());
        async move {
            deploy_args_ok(
                &config,
                &up_args(
                    &stack,
                    "up",
                    artifact,
                    &["--gateways", "0", "--no-master", "--workers", workers],
                ),
            )
            .await
        }
    };
    up("https://example.org/airq-1.tar.gz", "2").await;
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    let old: Vec<String> = ec2::instances(&aws)
        .await
        .expect("instances")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(old.len(), 2);

    // A new build: new template versions; the running workers keep the old one.
    up("https://example.org/airq-2.tar.gz", "2").await;
    deploy_ok(&config, &["--stack", &stack, "scale", "--workers", "3"]).await;
    let status = deploy_ok(&config, &["--stack", &stack, "status"]).await;
    assert_eq!(status.matches("artifact url-").count(), 3, "{status}");

    // Scaling in to 1 stops the two workers of the old build, not the newest (the one current worker).
    let out = deploy_ok(&config, &["--stack", &stack, "scale", "--workers", "1"]).await;
    assert!(out.contains("workers: 3 -> 1"), "{out}");
    let left: Vec<_> = ec2::instances(&aws)
        .await
        .expect("instances")
        .into_iter()
        .filter(|i| i.is_live())
        .collect();
    assert_eq!(left.len(), 1);
    assert!(
        !old.contains(&left[0].id),
        "an old-build worker survived: {left:?}"
    );
    let current = ec2::find_templates(&aws).await.expect("templates")[&Role::Worker]
        .spec_hash
        .clone();
    assert_eq!(left[0].spec, current);
    deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stack_name_in_two_regions_makes_two_stacks() {
    let endpoint = airq_common::testing::emulator::Emulator::shared()
        .endpoint
        .clone();
    let east = crate::support::config_in(&endpoint, None, "us-east-1").await;
    let west = crate::support::config_in(&endpoint, None, "eu-west-1").await;
    let stack = unique_stack("g");
    let dir = tempfile::tempdir().expect("tempdir");
    let artifact = artifact_file(dir.path());
    let artifact = artifact.to_str().expect("utf8");
    let up = up_args(
        &stack,
        "up",
        artifact,
        &["--gateways", "0", "--no-master", "--workers", "1"],
    );
    for config in [&east, &west] {
        deploy_args_ok(config, &up).await;
    }
    let east_aws = Aws::new(&east, stack.parse().expect("stack")).expect("aws");
    let west_aws = Aws::new(&west, stack.parse().expect("stack")).expect("aws");
    let east_bucket = airq_deploy::aws::artifact::find_bucket(&east_aws)
        .await
        .expect("bucket")
        .expect("east");
    let west_bucket = airq_deploy::aws::artifact::find_bucket(&west_aws)
        .await
        .expect("bucket")
        .expect("west");
    assert_ne!(east_bucket, west_bucket, "each region has its own bucket");
    // A second up in either region is still a no-op, and down in one leaves the other whole.
    let again = deploy_args_ok(&west, &up).await;
    assert!(again.starts_with("no changes"), "{again}");
    deploy_ok(
        &west,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
    assert!(airq_deploy::aws::artifact::find_bucket(&west_aws)
        .await
        .expect("bucket")
        .is_none());
    assert_eq!(
        airq_deploy::aws::artifact::find_bucket(&east_aws)
            .await
            .expect("bucket"),
        Some(east_bucket)
    );
    assert_eq!(live_counts(&east_aws).await, counts(0, 0, 1));
    deploy_ok(
        &east,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

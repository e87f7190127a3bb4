//! `up --metrics-cidr CIDR`: every role's unit serves metrics on 0.0.0.0:9100, both security groups open TCP
//! 9100 to that CIDR only, a second `up` changes nothing, and an `up` without the flag closes the port again.

use airq_deploy::aws::{ec2, Aws};
use airq_deploy::plan::Ingress;
use airq_deploy::stack::{GroupKind, Role};
use aws_sdk_ec2::types::InstanceAttributeName;
use base64::Engine as _;

use crate::support::{deploy, deploy_ok, keys_file, shared_config, unique_stack};

/// The user data of the stack's live instances, with their roles.
async fn user_data(aws: &Aws) -> Vec<(Role, String)> {
    let mut scripts = Vec::new();
    for i in ec2::instances(aws).await.expect("instances") {
        if !i.is_live() {
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
        scripts.push((i.role, String::from_utf8(bytes).expect("utf8")));
    }
    scripts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_cidr_opens_9100_to_that_cidr_and_every_role_serves_it() {
    let config = shared_config().await;
    let stack = unique_stack("m");
    let base = [
        "--stack",
        &stack,
        "up",
        "--allow-cidr",
        "203.0.113.0/24",
        "--artifact",
        "https://example.org/airq.tar.gz",
        "--workers",
        "1",
        "--api-keys",
        keys_file(),
    ];
    let with: Vec<&str> = [&base[..], &["--metrics-cidr", "192.0.2.0/28"]].concat();
    let plan_args: Vec<&str> = [&with[..2], &["plan"], &with[3..]].concat();
    let (result, plan) = deploy(&config, &plan_args).await;
    result.expect("plan");
    for group in ["gateway", "private"] {
        assert!(
            plan.contains(&format!(
                "+ security group airq-{stack}-{group} rule: allow tcp 9100 from 192.0.2.0/28"
            )),
            "{plan}"
        );
    }
    deploy_ok(&config, &with).await;
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");

    let metrics = Ingress::tcp(9100, "192.0.2.0/28");
    let groups = ec2::find_groups(&aws).await.expect("groups");
    let mut gateway = groups[&GroupKind::Gateway].ingress.clone();
    gateway.sort();
    let mut expected = vec![Ingress::tcp(8080, "203.0.113.0/24"), metrics.clone()];
    expected.sort();
    assert_eq!(gateway, expected);
    assert_eq!(groups[&GroupKind::Private].ingress, vec![metrics.clone()]);

    let scripts = user_data(&aws).await;
    for role in Role::ALL {
        let script = scripts
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no live {role} instance"));
        let exec = script
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .expect("ExecStart");
        assert!(
            exec.ends_with(" --metrics-listen 0.0.0.0:9100"),
            "{role}: {exec}"
        );
    }

    let again = deploy_ok(&config, &with).await;
    assert!(again.starts_with("no changes"), "{again}");

    // Without the flag: the rule goes from both groups, and the roles' templates stop serving metrics.
    let before = ec2::find_templates(&aws).await.expect("templates");
    deploy_ok(&config, &base).await;
    let groups = ec2::find_groups(&aws).await.expect("groups");
    assert_eq!(
        groups[&GroupKind::Gateway].ingress,
        vec![Ingress::tcp(8080, "203.0.113.0/24")]
    );
    assert_eq!(groups[&GroupKind::Private].ingress, vec![]);
    let after = ec2::find_templates(&aws).await.expect("templates");
    for role in Role::ALL {
        assert_eq!(
            after[&role].default_version,
            before[&role].default_version + 1,
            "{role}"
        );
    }
    let again = deploy_ok(&config, &base).await;
    assert!(again.starts_with("no changes"), "{again}");
    deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

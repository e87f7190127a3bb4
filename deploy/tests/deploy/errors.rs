//! AWS refusing: a missing permission (provoked for real on a dedicated emulator that enforces IAM), a bad
//! AMI (a real lookup), a quota (injected by a proxy: the emulator has no quotas). Each ends with a message naming the resource and the
//! permission or limit, and a half-done `up` is finished by running it again.

use std::collections::BTreeMap;

use airq_common::testing::emulator::Emulator;
use airq_deploy::aws::{ec2, Aws};
use airq_deploy::error::DeployError;
use airq_deploy::stack::Role;

use crate::support::{
    config_for, deploy, deploy_args, deploy_args_ok, deploy_ok, ec2_error, iam_call, keys_file,
    live_counts, shared_config, unique_stack, up_args, xml_value, Fault, FaultProxy,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_stops_up_with_a_clear_message_and_a_rerun_finishes_it() {
    let proxy = FaultProxy::start(&Emulator::shared().endpoint).await;
    let config = config_for(&proxy.endpoint, None).await;
    let stack = unique_stack("q");
    let template = format!("airq-{stack}-worker");
    proxy.inject(Some(Fault {
        needles: vec!["Action=RunInstances".into(), template.clone()],
        status: 400,
        body: ec2_error(
            "VcpuLimitExceeded",
            "You have requested more vCPU capacity than your current vCPU limit of 2 allows for the instance bucket that the specified instance type belongs to.",
        ),
    }));
    let args = [
        "--stack",
        &stack,
        "up",
        "--allow-cidr",
        "203.0.113.0/24",
        "--artifact",
        "https://example.org/airq.tar.gz",
        "--workers",
        "3",
        "--api-keys",
        keys_file(),
    ];
    let (result, out) = deploy(&config, &args).await;
    let err = result.expect_err("the quota stops up");
    assert!(matches!(err, DeployError::Quota { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("VcpuLimitExceeded"), "{message}");
    assert!(
        message.contains(&format!("3 worker instance(s) of stack {stack}")),
        "{message}"
    );
    assert!(message.contains("Service Quotas"), "{message}");
    assert!(out.contains("fix the cause and run `up` again"), "{out}");

    // Half done: everything before the workers exists.
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    let before: BTreeMap<Role, usize> = [(Role::Gateway, 1), (Role::Master, 1)]
        .into_iter()
        .collect();
    assert_eq!(live_counts(&aws).await, before);

    // The quota is raised; the same command finishes the job without duplicating anything.
    proxy.inject(None);
    let plan = deploy_ok(&config, &[&args[..2], &["plan"], &args[3..]].concat()).await;
    assert_eq!(
        plan.lines()
            .filter(|l| l.starts_with(['+', '~', '-']))
            .count(),
        1,
        "{plan}"
    );
    assert!(plan.contains("+ 3 worker instance(s)"), "{plan}");
    deploy_ok(&config, &args).await;
    let after: BTreeMap<Role, usize> = [(Role::Gateway, 1), (Role::Master, 1), (Role::Worker, 3)]
        .into_iter()
        .collect();
    assert_eq!(live_counts(&aws).await, after);
    deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_names_the_permission_and_the_resource() {
    // A dedicated emulator: enforcing IAM is server-wide. The operator may do everything but look up images.
    // (A denied write would make a better story, but moto 5 fails the signature check of EC2 query requests
    // whose values contain spaces, answers JSON-protocol services (SQS, DynamoDB) with an XML error the SDK
    // cannot read, and does not enforce s3:CreateBucket; each would hide the permission error.)
    let emulator = Emulator::dedicated(&[]);
    let endpoint = emulator.endpoint.clone();
    iam_call(
        &endpoint,
        &[("Action", "CreateUser"), ("UserName", "operator")],
    )
    .await;
    let key = iam_call(
        &endpoint,
        &[("Action", "CreateAccessKey"), ("UserName", "operator")],
    )
    .await;
    let (id, secret) = (
        xml_value(&key, "AccessKeyId").expect("key id"),
        xml_value(&key, "SecretAccessKey").expect("secret"),
    );
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Action": "*", "Resource": "*" },
            { "Effect": "Deny", "Action": "ec2:DescribeImages", "Resource": "*" }
        ]
    })
    .to_string();
    iam_call(
        &endpoint,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "operator"),
            ("PolicyName", "no-image-lookup"),
            ("PolicyDocument", &policy),
        ],
    )
    .await;
    // From now on every request is authenticated and authorised.
    let reset = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/reset-auth"))
        .body("0")
        .send()
        .await
        .expect("reset-auth");
    assert!(reset.status().is_success());

    let config = config_for(&endpoint, Some((&id, &secret))).await;
    let stack = unique_stack("p");
    let (result, _) = deploy_args(
        &config,
        &up_args(&stack, "up", "https://example.org/airq.tar.gz", &[]),
    )
    .await;
    let err = result.expect_err("DescribeImages is denied");
    let message = err.to_string();
    assert!(
        matches!(err, DeployError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(
        message.contains("lacks the permission ec2:DescribeImages"),
        "{message}"
    );
    assert!(message.contains("Amazon Linux 2023 images"), "{message}");
    assert!(message.contains("iam-policy --operator"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_ami_names_the_ami() {
    let config = shared_config().await;
    let stack = unique_stack("a");
    let (result, _) = deploy_args(
        &config,
        &up_args(
            &stack,
            "up",
            "https://example.org/airq.tar.gz",
            &["--ami", "ami-0123456789abcdef0"],
        ),
    )
    .await;
    let err = result.expect_err("the AMI does not exist");
    let message = err.to_string();
    assert!(matches!(err, DeployError::BadAmi { .. }), "{err:?}");
    assert!(message.contains("ami-0123456789abcdef0"), "{message}");
    assert!(message.contains("--ami"), "{message}");
    // Checked before anything was created.
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    assert!(airq_deploy::aws::table::find(&aws)
        .await
        .expect("table")
        .is_none());

    // An arm64 image is refused too: the artifact is x86_64.
    let arm = aws
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("architecture")
                .values("arm64")
                .build(),
        )
        .send()
        .await
        .expect("images");
    let arm = arm
        .images()
        .first()
        .and_then(|i| i.image_id())
        .expect("an arm64 image")
        .to_string();
    let (result, _) = deploy_args(
        &config,
        &up_args(
            &stack,
            "plan",
            "https://example.org/airq.tar.gz",
            &["--ami", &arm],
        ),
    )
    .await;
    let message = result.expect_err("arm64").to_string();
    assert!(
        message.contains("x86_64") && message.contains(&arm),
        "{message}"
    );

    // Without --ami the latest Amazon Linux 2023 image is found and used.
    let out = deploy_args_ok(
        &config,
        &up_args(&stack, "plan", "https://example.org/airq.tar.gz", &[]),
    )
    .await;
    assert!(out.contains("+ launch template for worker (ami-"), "{out}");
    let latest = ec2::latest_al2023(&aws)
        .await
        .expect("describe images")
        .expect("an AL2023 image");
    let image = aws
        .ec2
        .describe_images()
        .image_ids(&latest)
        .send()
        .await
        .expect("image");
    let name = image.images()[0].name().unwrap_or_default().to_string();
    assert!(
        name.starts_with("al2023-ami-2023.")
            && name.ends_with("-x86_64")
            && !name.contains("minimal"),
        "{name}"
    );
    assert!(out.contains(&latest), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_on_a_stack_that_was_never_up_says_so() {
    let config = shared_config().await;
    let stack = unique_stack("n");
    let (result, _) = deploy(&config, &["--stack", &stack, "scale", "--workers", "2"]).await;
    let message = result.expect_err("no stack").to_string();
    assert!(message.contains("run `airq-deploy up` first"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_subnet_fails_before_anything_is_created() {
    let config = shared_config().await;
    let stack = unique_stack("s");
    let (result, _) = deploy_args(
        &config,
        &up_args(
            &stack,
            "up",
            "https://example.org/airq.tar.gz",
            &["--subnet", "subnet-0000000000000000"],
        ),
    )
    .await;
    let message = result.expect_err("no such subnet").to_string();
    assert!(message.contains("subnet-0000000000000000"), "{message}");
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    assert!(airq_deploy::aws::table::find(&aws)
        .await
        .expect("table")
        .is_none());
}

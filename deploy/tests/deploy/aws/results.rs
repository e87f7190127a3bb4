//! The result store's table and bucket as `up` makes them (the definitions of `airq_common::results::aws`, plus
//! the stack's tag and a private bucket) and `down` removes them; and a store that a role made for itself, before
//! `up` did, made the stack's by the next `up`.

use airq_common::results::aws::{PARTS_PREFIX, PART_LIFETIME_DAYS};
use airq_deploy::aws::{bucket, results, table, Aws};
use airq_deploy::stack::TAG_STACK;

use crate::support::{deploy_args_ok, deploy_ok, shared_config, unique_stack, up_args};

/// The stack's results bucket.
pub async fn bucket_name(aws: &Aws) -> String {
    results::bucket_name(aws)
        .await
        .expect("results bucket name")
}

/// Asserts that the result store is as `up` makes it; returns the bucket's name.
pub async fn assert_made(aws: &Aws) -> String {
    let name = aws.stack.results_table();
    let described = aws
        .dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("the results table exists");
    let t = described.table().expect("table");
    assert_eq!(t.table_status().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(
        t.billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str()),
        Some("PAY_PER_REQUEST")
    );
    let keys: Vec<(&str, &str)> = t
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("id", "HASH")]);
    let tags = aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(t.table_arn().expect("arn"))
        .send()
        .await
        .expect("table tags");
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == TAG_STACK && t.value() == aws.stack.as_str()),
        "{tags:?}"
    );
    let ttl = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .expect("ttl");
    let ttl = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some("forget_at"));
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );

    let bucket = bucket_name(aws).await;
    assert!(
        bucket.starts_with(&format!("airq-{}-results-", aws.stack)),
        "{bucket}"
    );
    assert!(bucket::exists(aws, &bucket).await.expect("head"));
    assert!(bucket::tagged(aws, &bucket).await.expect("tags"));
    assert!(bucket::private(aws, &bucket).await.expect("public access"));
    let lifecycle = aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .expect("lifecycle");
    let rule = lifecycle
        .rules()
        .iter()
        .find(|r| r.filter().and_then(|f| f.prefix()) == Some(PARTS_PREFIX))
        .unwrap_or_else(|| panic!("no rule for {PARTS_PREFIX}: {lifecycle:?}"));
    assert_eq!(rule.status().as_str(), "Enabled");
    assert_eq!(
        rule.expiration().and_then(|e| e.days()),
        Some(PART_LIFETIME_DAYS)
    );
    assert_eq!(
        rule.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(1)
    );
    bucket
}

/// Puts an answer part where a worker would, so that `down` must empty the bucket before deleting it.
pub async fn put_part(aws: &Aws, bucket: &str) {
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(format!("{PARTS_PREFIX}job/attempt/000000"))
        .body(b"part".to_vec().into())
        .send()
        .await
        .expect("put a part");
}

/// Asserts that the result store's table and bucket are gone.
pub async fn assert_gone(aws: &Aws, bucket: &str) {
    assert!(table::find_table(aws, &aws.stack.results_table())
        .await
        .expect("describe")
        .is_none());
    assert!(!bucket::exists(aws, bucket).await.expect("head"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_store_a_role_made_is_made_the_stacks_by_up() {
    let config = shared_config().await;
    let stack = unique_stack("rs");
    let aws = Aws::new(&config, stack.parse().expect("stack")).expect("aws");
    let bucket = bucket_name(&aws).await;
    // A role that started before `up` made them: the common definitions, without the stack tag or the blocked
    // public access.
    airq_common::results::aws::AwsResults::new(
        &config,
        &aws.stack.results_table(),
        &bucket,
        airq_common::results::ResultOptions::default(),
    )
    .ensure()
    .await
    .expect("the role's ensure");
    let args = |command| {
        up_args(
            &stack,
            command,
            "https://example.org/airq.tar.gz",
            &["--gateways", "0", "--no-master", "--workers", "0"],
        )
    };
    let plan = deploy_args_ok(&config, &args("plan")).await;
    assert!(
        plan.contains(&format!(
            "~ dynamodb table airq-{stack}-results: add the stack tag"
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "~ s3 bucket {bucket}: add the stack tag, block public access\n"
        )),
        "{plan}"
    );
    assert!(
        !plan.contains(&format!("+ dynamodb table airq-{stack}-results")),
        "{plan}"
    );
    deploy_args_ok(&config, &args("up")).await;
    assert_eq!(assert_made(&aws).await, bucket);
    let again = deploy_args_ok(&config, &args("plan")).await;
    assert!(again.starts_with("no changes"), "{again}");

    put_part(&aws, &bucket).await;
    let out = deploy_ok(&config, &["--stack", &stack, "down", "--yes"]).await;
    assert!(out.contains(&format!("- s3 bucket {bucket}")), "{out}");
    assert_gone(&aws, &bucket).await;
    deploy_ok(
        &config,
        &["--stack", &stack, "down", "--yes", "--delete-data"],
    )
    .await;
}

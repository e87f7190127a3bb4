//! The policies name exactly the actions and resources each part of airq needs.

use super::*;

fn actions(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| match &s["Action"] {
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Value::String(a) => vec![a.clone()],
            _ => vec![],
        })
        .collect()
}

fn statements(policy: &Value) -> impl Iterator<Item = &Value> {
    policy["Statement"].as_array().into_iter().flatten()
}

/// The statement with this Sid.
fn statement<'a>(policy: &'a Value, sid: &str) -> &'a Value {
    statements(policy)
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}: {policy}"))
}

#[test]
fn instance_policy_names_only_the_stacks_resources() {
    let stack: StackName = "prod".parse().expect("valid");
    let p = instance_policy(&stack, &Scope::new("eu-west-1", "123456789012"));
    let text = p.to_string();
    assert!(text.contains("arn:aws:dynamodb:eu-west-1:123456789012:table/airq-prod-readings"));
    assert!(text.contains("arn:aws:sqs:eu-west-1:123456789012:airq-prod-requests"));
    assert!(text.contains("arn:aws:sqs:eu-west-1:123456789012:airq-prod-reply-*"));
    // No wildcard actions, and nothing only airq-deploy does.
    let all = actions(&p);
    assert!(all.iter().all(|a| !a.contains('*')), "{all:?}");
    for deploy_only in [
        "dynamodb:CreateTable",
        "dynamodb:DeleteTable",
        "dynamodb:UpdateTable",
        "dynamodb:UpdateTimeToLive",
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:PutLifecycleConfiguration",
        "sqs:SetQueueAttributes",
        "ec2:RunInstances",
    ] {
        assert!(!all.iter().any(|a| a == deploy_only), "{deploy_only}");
    }
    // Gateways tag only their own reply queues (the heartbeat), never the stack's other queues.
    for s in statements(&p) {
        if s["Action"].to_string().contains("sqs:TagQueue") {
            assert_eq!(
                s["Resource"],
                "arn:aws:sqs:eu-west-1:123456789012:airq-prod-reply-*"
            );
        }
    }
    // Every resource other than the list-only statement is scoped to this stack.
    for s in p["Statement"].as_array().into_iter().flatten() {
        if s["Sid"] == "QueueHealthCheck" {
            continue;
        }
        assert!(s["Resource"].to_string().contains("airq-prod-"), "{s}");
    }
}

#[test]
fn partitions() {
    assert_eq!(partition_of("eu-west-1"), "aws");
    assert_eq!(partition_of("cn-north-1"), "aws-cn");
    assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    let p = instance_policy(&"x".parse().expect("valid"), &Scope::new("cn-north-1", "1"));
    assert!(p
        .to_string()
        .contains("arn:aws-cn:sqs:cn-north-1:1:airq-x-requests"));
}

#[test]
fn operator_policy_scopes_ec2_changes_by_tag() {
    let stack: StackName = "prod".parse().expect("valid");
    let p = operator_policy(&stack, &Scope::new("eu-west-1", "123456789012"));
    let change = p["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["Sid"] == "ChangeOwnEc2"))
        .expect("statement");
    assert_eq!(
        change["Condition"]["StringEquals"]["aws:ResourceTag/airq:stack"],
        "prod"
    );
    // Tags can be added only while creating, never to existing resources.
    for s in p["Statement"].as_array().into_iter().flatten() {
        if s["Action"].to_string().contains("ec2:CreateTags") {
            assert!(
                s["Condition"]["StringEquals"]["ec2:CreateAction"].is_array(),
                "{s}"
            );
        }
    }
}

#[test]
fn instance_policy_grants_the_result_store_exactly() {
    let stack: StackName = "prod".parse().expect("valid");
    let scope = Scope::new("eu-west-1", "123456789012");
    let p = instance_policy(&stack, &scope);
    let bucket = stack.results_bucket("123456789012", "eu-west-1");

    let table = statement(&p, "ResultsTable");
    assert_eq!(
        table["Resource"],
        "arn:aws:dynamodb:eu-west-1:123456789012:table/airq-prod-results"
    );
    assert_eq!(
        table["Action"],
        json!([
            "dynamodb:DeleteItem",
            "dynamodb:DescribeTable",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:UpdateItem"
        ])
    );

    // Objects: only under results/ of this account's bucket of that name.
    let parts = statement(&p, "ResultParts");
    assert_eq!(
        parts["Resource"],
        format!("arn:aws:s3:::{bucket}/results/*")
    );
    assert_eq!(
        parts["Action"],
        json!(["s3:DeleteObject", "s3:GetObject", "s3:PutObject"])
    );
    assert_eq!(
        parts["Condition"]["StringEquals"]["s3:ResourceAccount"],
        "123456789012"
    );

    // Listing: the bucket itself, under results/ when a prefix is named.
    let list = statement(&p, "ResultPartsList");
    assert_eq!(list["Resource"], format!("arn:aws:s3:::{bucket}"));
    assert_eq!(list["Action"], json!(["s3:ListBucket"]));
    assert_eq!(
        list["Condition"]["StringLikeIfExists"]["s3:prefix"],
        "results/*"
    );
    assert_eq!(
        list["Condition"]["StringEquals"]["s3:ResourceAccount"],
        "123456789012"
    );

    // No other statement touches the result store.
    for s in statements(&p) {
        if !["ResultsTable", "ResultParts", "ResultPartsList"]
            .contains(&s["Sid"].as_str().unwrap_or(""))
        {
            let text = s["Resource"].to_string();
            assert!(!text.contains("airq-prod-results"), "{s}");
        }
    }

    // Reply queues: the heartbeat tag is written and read there.
    let reply = statement(&p, "ReplyQueues");
    for action in ["sqs:TagQueue", "sqs:ListQueueTags", "sqs:DeleteQueue"] {
        assert!(
            reply["Action"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(action))),
            "{action}: {reply}"
        );
    }
}

#[test]
fn operator_policy_creates_tags_and_deletes_the_result_store() {
    let stack: StackName = "prod".parse().expect("valid");
    let p = operator_policy(&stack, &Scope::new("eu-west-1", "123456789012"));
    let bucket = stack.results_bucket("123456789012", "eu-west-1");
    let table = statement(&p, "ResultsTable");
    assert_eq!(
        table["Resource"],
        "arn:aws:dynamodb:eu-west-1:123456789012:table/airq-prod-results"
    );
    for action in [
        "dynamodb:CreateTable",
        "dynamodb:DeleteTable",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource",
        "dynamodb:UpdateTimeToLive",
    ] {
        assert!(
            table["Action"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(action))),
            "{action}"
        );
    }
    let bucket_statement = statement(&p, "ResultsBucket");
    assert_eq!(
        bucket_statement["Resource"],
        format!("arn:aws:s3:::{bucket}")
    );
    for action in [
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketTagging",
        "s3:GetLifecycleConfiguration",
        "s3:ListBucket",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketTagging",
        "s3:PutLifecycleConfiguration",
    ] {
        assert!(
            bucket_statement["Action"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(action))),
            "{action}"
        );
    }
    let empty = statement(&p, "EmptyResultsBucket");
    assert_eq!(empty["Resource"], format!("arn:aws:s3:::{bucket}/*"));
    assert_eq!(empty["Action"], json!(["s3:DeleteObject"]));
}

//! IAM policies: the least-privilege policy the instances' role needs (`airq-deploy iam-policy`), the trust
//! policy that lets EC2 assume that role, and the policy of the operator who runs `airq-deploy`.
//!
//! The instance policy lists the exact API actions the airq roles call (see `airq_common::store::dynamodb`,
//! `airq_common::queue::sqs` and `airq_common::results::aws`) on the exact resources of one stack. Actions that
//! only `airq-deploy` performs (creating the tables, the buckets, the request queue, tagging them) are not in
//! it. One role serves every instance, so the policy is the union of what gateways, workers and the master do.

use airq_common::results::aws::PARTS_PREFIX;
use serde_json::{json, Value};

use crate::stack::StackName;

/// Where the ARNs point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Scope {
    pub fn new(region: &str, account: &str) -> Self {
        Scope {
            partition: partition_of(region).to_string(),
            region: region.to_string(),
            account: account.to_string(),
        }
    }

    fn sqs(&self, name: &str) -> String {
        format!(
            "arn:{}:sqs:{}:{}:{name}",
            self.partition, self.region, self.account
        )
    }

    fn table(&self, name: &str) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{name}",
            self.partition, self.region, self.account
        )
    }

    fn bucket(&self, name: &str) -> String {
        format!("arn:{}:s3:::{name}", self.partition)
    }

    /// The stack's results bucket in this account and region (its name is derived from both).
    fn results_bucket(&self, stack: &StackName) -> String {
        stack.results_bucket(&self.account, &self.region)
    }
}

/// The AWS partition of a region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The permissions of the instances' role, for one stack.
pub fn instance_policy(stack: &StackName, scope: &Scope) -> Value {
    let table = scope.table(&stack.table());
    let results_bucket = scope.bucket(&scope.results_bucket(stack));
    let parts = format!("{results_bucket}/{PARTS_PREFIX}*");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadingsTable",
                "Effect": "Allow",
                // master writes readings (BatchWriteItem) and the time-bounds item (GetItem, UpdateItem);
                // gateways and workers query (Query, GetItem); `count` scans; every role checks the table.
                "Action": [
                    "dynamodb:BatchWriteItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:UpdateItem"
                ],
                "Resource": [table.clone(), format!("{table}/index/*")]
            },
            {
                "Sid": "RequestQueue",
                "Effect": "Allow",
                // gateways send jobs; workers receive, extend (heartbeat) and delete them, and send replies.
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage"
                ],
                "Resource": [scope.sqs(&stack.request_queue()), scope.sqs(&stack.dead_letter_queue())]
            },
            {
                "Sid": "ReplyQueues",
                "Effect": "Allow",
                // each gateway creates its own reply queue at start, keeps a heartbeat tag on it, and deletes it at
                // clean shutdown; any gateway deletes the stack's reply queues whose heartbeat stopped (reading
                // their tags); workers send to them.
                "Action": [
                    "sqs:CreateQueue",
                    "sqs:DeleteMessage",
                    "sqs:DeleteQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ListQueueTags",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                    "sqs:TagQueue"
                ],
                "Resource": scope.sqs(&format!("{}-*", stack.reply_queue_prefix()))
            },
            {
                "Sid": "QueueHealthCheck",
                "Effect": "Allow",
                // the readiness probe lists at most one queue, and gateways list the stack's reply queues to find
                // those whose gateway is gone; ListQueues has no resource-level scoping.
                "Action": ["sqs:ListQueues"],
                "Resource": "*"
            },
            {
                "Sid": "ResultsTable",
                "Effect": "Allow",
                // gateways create a job's record (PutItem), read it (GetItem), cancel or expire it (UpdateItem,
                // DeleteItem) and sweep the table (Scan); workers start and finish jobs (GetItem, UpdateItem);
                // every role checks the table at start (DescribeTable).
                "Action": [
                    "dynamodb:DeleteItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:Scan",
                    "dynamodb:UpdateItem"
                ],
                "Resource": scope.table(&stack.results_table())
            },
            {
                "Sid": "ResultParts",
                "Effect": "Allow",
                // workers write answer parts; gateways read them; both delete the parts of expired, cancelled or
                // superseded answers.
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": parts,
                "Condition": { "StringEquals": { "s3:ResourceAccount": scope.account } }
            },
            {
                "Sid": "ResultPartsList",
                "Effect": "Allow",
                // listing a job's parts (ListObjectsV2 under results/); HeadBucket, which every role sends at start
                // to check the bucket, is authorised as s3:ListBucket too but names no prefix, hence IfExists. The
                // bucket holds nothing but answer parts.
                "Action": ["s3:ListBucket"],
                "Resource": results_bucket,
                "Condition": {
                    "StringEquals": { "s3:ResourceAccount": scope.account },
                    "StringLikeIfExists": { "s3:prefix": format!("{PARTS_PREFIX}*") }
                }
            },
            {
                "Sid": "Artifact",
                "Effect": "Allow",
                // instances download the airq binaries at boot.
                "Action": ["s3:GetObject"],
                "Resource": format!("arn:{}:s3:::{}*/artifacts/*", scope.partition, stack.bucket_prefix()),
                // Bucket names are global: only this account's bucket of that name.
                "Condition": { "StringEquals": { "s3:ResourceAccount": scope.account } }
            }
        ]
    })
}

/// The trust policy of the instances' role: EC2 may assume it.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ec2.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// What the operator running `airq-deploy` needs, for one stack. EC2 actions cannot be scoped by name before
/// the resources exist, so mutating EC2 calls are scoped by the stack tag instead (`aws:ResourceTag` on
/// existing resources, `aws:RequestTag` on new ones).
pub fn operator_policy(stack: &StackName, scope: &Scope) -> Value {
    let table = scope.table(&stack.table());
    let results_bucket = scope.bucket(&scope.results_bucket(stack));
    let tag_key = format!("aws:ResourceTag/{}", crate::stack::TAG_STACK);
    let request_tag = format!("aws:RequestTag/{}", crate::stack::TAG_STACK);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroupRules",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcs",
                    "sqs:ListQueues",
                    "sts:GetCallerIdentity"
                ],
                "Resource": "*"
            },
            {
                "Sid": "CreateTagged",
                "Effect": "Allow",
                // New instances, volumes, groups and templates must carry the stack tag.
                "Action": ["ec2:CreateLaunchTemplate", "ec2:CreateSecurityGroup", "ec2:RunInstances"],
                "Resource": "*",
                "Condition": { "StringEquals": { request_tag: stack.as_str() } }
            },
            {
                "Sid": "TagOnlyWhileCreating",
                "Effect": "Allow",
                // Tagging is allowed only as part of those creations: with a free ec2:CreateTags, an operator
                // could tag any instance with the stack and then terminate it as the stack's.
                "Action": ["ec2:CreateTags"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "ec2:CreateAction": ["CreateLaunchTemplate", "CreateSecurityGroup", "RunInstances"]
                    }
                }
            },
            {
                "Sid": "CreateGroupsInVpc",
                "Effect": "Allow",
                // CreateSecurityGroup also authorises the VPC, which carries no request tag.
                "Action": ["ec2:CreateSecurityGroup"],
                "Resource": format!("arn:{}:ec2:{}:{}:vpc/*", scope.partition, scope.region, scope.account)
            },
            {
                "Sid": "RunInstancesFromImagesAndNetwork",
                "Effect": "Allow",
                // RunInstances also authorises the image, subnet, network interface, group, template and key
                // pair it uses, which carry no request tags.
                "Action": ["ec2:RunInstances"],
                "Resource": [
                    format!("arn:{}:ec2:{}::image/*", scope.partition, scope.region),
                    format!("arn:{}:ec2:{}:{}:subnet/*", scope.partition, scope.region, scope.account),
                    format!("arn:{}:ec2:{}:{}:network-interface/*", scope.partition, scope.region, scope.account),
                    format!("arn:{}:ec2:{}:{}:volume/*", scope.partition, scope.region, scope.account),
                    format!("arn:{}:ec2:{}:{}:security-group/*", scope.partition, scope.region, scope.account),
                    format!("arn:{}:ec2:{}:{}:launch-template/*", scope.partition, scope.region, scope.account),
                    format!("arn:{}:ec2:{}:{}:key-pair/*", scope.partition, scope.region, scope.account)
                ]
            },
            {
                "Sid": "ChangeOwnEc2",
                "Effect": "Allow",
                "Action": [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:CreateLaunchTemplateVersion",
                    "ec2:DeleteLaunchTemplate",
                    "ec2:DeleteSecurityGroup",
                    "ec2:ModifyLaunchTemplate",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:TerminateInstances"
                ],
                "Resource": "*",
                "Condition": { "StringEquals": { tag_key: stack.as_str() } }
            },
            {
                "Sid": "PassInstanceRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": format!("arn:{}:iam::{}:role/*", scope.partition, scope.account),
                "Condition": { "StringEquals": { "iam:PassedToService": "ec2.amazonaws.com" } }
            },
            {
                "Sid": "Table",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:CreateTable",
                    "dynamodb:DeleteTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:ListTagsOfResource",
                    "dynamodb:TagResource",
                    // Adds the key indexes a table made by an older airq lacks (issue 12).
                    "dynamodb:UpdateTable"
                ],
                "Resource": [table.clone(), format!("{table}/index/*")]
            },
            {
                "Sid": "ResultsTable",
                "Effect": "Allow",
                // Created with the result store's own definition, which turns its TTL on; `up` reads the TTL to
                // finish a creation that stopped before it.
                "Action": [
                    "dynamodb:CreateTable",
                    "dynamodb:DeleteTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:ListTagsOfResource",
                    "dynamodb:TagResource",
                    "dynamodb:UpdateTimeToLive"
                ],
                "Resource": scope.table(&stack.results_table())
            },
            {
                "Sid": "ResultsBucket",
                "Effect": "Allow",
                "Action": [
                    "s3:CreateBucket",
                    "s3:DeleteBucket",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetBucketTagging",
                    "s3:GetLifecycleConfiguration",
                    "s3:ListBucket",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutBucketTagging",
                    "s3:PutLifecycleConfiguration"
                ],
                "Resource": results_bucket.clone()
            },
            {
                "Sid": "EmptyResultsBucket",
                "Effect": "Allow",
                // `down` deletes the answer parts left before it deletes the bucket.
                "Action": ["s3:DeleteObject"],
                "Resource": format!("{results_bucket}/*")
            },
            {
                "Sid": "Queues",
                "Effect": "Allow",
                "Action": [
                    "sqs:CreateQueue",
                    "sqs:DeleteQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ListQueueTags",
                    "sqs:SetQueueAttributes",
                    "sqs:TagQueue"
                ],
                "Resource": scope.sqs(&format!("{}*", stack.prefix()))
            },
            {
                "Sid": "ArtifactBucket",
                "Effect": "Allow",
                "Action": [
                    "s3:CreateBucket",
                    "s3:DeleteBucket",
                    "s3:DeleteObject",
                    "s3:GetBucketTagging",
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:PutBucketTagging",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutObject"
                ],
                "Resource": [
                    format!("arn:{}:s3:::{}*", scope.partition, stack.bucket_prefix()),
                    format!("arn:{}:s3:::{}*/*", scope.partition, stack.bucket_prefix())
                ]
            }
        ]
    })
}

#[cfg(test)]
mod tests;

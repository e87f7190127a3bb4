//! The AWS provider: reads what a stack has ([`observe`]), makes the changes a plan lists ([`apply`]), reports
//! ([`status`]), runs the worker fleet as EC2 instances ([`fleet`]) and tears a stack down ([`down`]). The
//! resources themselves: [`table`], [`results`] (the result store's table and bucket), [`queues`], [`artifact`]
//! and [`bucket`] (what every bucket of a stack shares), [`ec2`].
//!
//! Every resource is found by the stack's names and tags (see [`crate::stack`]), never by state kept on the
//! operator's machine, so any operator with access can run any command, and a half-done `up` is finished by
//! running it again.

use aws_config::SdkConfig;

use crate::error::DeployError;
use crate::stack::StackName;

pub mod apply;
pub mod artifact;
pub mod bucket;
pub mod down;
pub mod ec2;
pub mod fleet;
pub mod observe;
pub mod queues;
pub mod results;
pub mod status;
pub mod table;

/// The SDK clients of one account and region, and the stack they work on.
#[derive(Clone)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
    pub stack: StackName,
    /// The configuration the clients were made from (for `airq_common`'s own backends).
    pub config: SdkConfig,
    account: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

impl Aws {
    /// Clients from one SDK configuration (default credential chain; `AWS_ENDPOINT_URL` honoured).
    pub fn new(config: &SdkConfig, stack: StackName) -> Result<Self, DeployError> {
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            DeployError::Invalid(
                "no AWS region: set AWS_REGION (or a region in your AWS profile) or pass --region"
                    .into(),
            )
        })?;
        // With an endpoint override (the local emulator, or an S3-compatible store) bucket names cannot be host
        // names, so S3 is addressed by path there.
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Ok(Aws {
            ec2: aws_sdk_ec2::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sts: aws_sdk_sts::Client::new(config),
            region,
            stack,
            config: config.clone(),
            account: Default::default(),
        })
    }

    /// The request queue through `airq_common`'s SQS backend (its depth is what autoscaling reads).
    pub async fn request_queue(
        &self,
    ) -> Result<std::sync::Arc<dyn airq_common::queue::JobQueue>, DeployError> {
        use airq_common::queue::QueueService as _;
        let queues = airq_common::queue::sqs::SqsQueues::new(&self.config);
        Ok(queues.open(&self.stack.request_queue()).await?)
    }

    /// The account the credentials belong to (looked up once).
    pub async fn account_id(&self) -> Result<String, DeployError> {
        self.account
            .get_or_try_init(|| self.lookup_account())
            .await
            .cloned()
    }

    async fn lookup_account(&self) -> Result<String, DeployError> {
        let out = self.sts.get_caller_identity().send().await.map_err(|e| {
            crate::error::classify(
                crate::error::Call::new(
                    "GetCallerIdentity",
                    "sts:GetCallerIdentity",
                    "the caller's identity",
                ),
                None,
                e,
            )
        })?;
        out.account()
            .map(str::to_string)
            .ok_or_else(|| DeployError::Unexpected {
                resource: "the caller's identity".into(),
                message: "GetCallerIdentity returned no account".into(),
            })
    }
}

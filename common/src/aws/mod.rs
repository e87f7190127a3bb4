//! The one process-wide AWS SDK configuration: default credential chain and region, `AWS_ENDPOINT_URL` honoured
//! (that is how tests point the SDK at the local emulator), one retry policy. Credentials never come from code
//! or config files in this repository.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The shared SDK configuration, loaded once from the environment.
pub async fn sdk_config() -> SdkConfig {
    CONFIG
        .get_or_init(|| async {
            aws_config::defaults(BehaviorVersion::latest())
                .retry_config(RetryConfig::standard().with_max_attempts(5))
                .load()
                .await
        })
        .await
        .clone()
}

pub mod error;

/// An S3 client on the shared configuration. Path-style addressing when an endpoint is configured (an emulator
/// on loopback has no per-bucket host names).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

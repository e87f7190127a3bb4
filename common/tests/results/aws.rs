//! The AWS result store (DynamoDB records, S3 parts) on the local emulator: the same conformance cases.

use std::sync::Arc;

use airq_common::results::aws::AwsResults;
use airq_common::testing::emulator::{unique_name, Emulator};
use airq_common::testing::result_conformance::{Handles, OPTIONS};

async fn fresh() -> Handles {
    let config = Emulator::shared().sdk_config().await;
    let table = unique_name("results");
    let bucket = unique_name("airq-results").to_ascii_lowercase();
    let a = AwsResults::new(&config, &table, &bucket, OPTIONS);
    a.ensure().await.expect("create the table and bucket");
    let b = AwsResults::new(&config, &table, &bucket, OPTIONS);
    b.ensure().await.expect("ensure is idempotent");
    (Arc::new(a), Arc::new(b))
}

airq_common::result_conformance_tests!(fresh());

//! The SQS queue on the local emulator: the same conformance cases as the embedded queue.

use std::sync::Arc;

use airq_common::queue::sqs::SqsQueues;
use airq_common::queue::QueueService;
use airq_common::testing::emulator::{unique_name, Emulator};

async fn fresh() -> (Arc<dyn QueueService>, String) {
    let config = Emulator::shared().sdk_config().await;
    (Arc::new(SqsQueues::new(&config)), unique_name("q"))
}

airq_common::queue_conformance_tests!(fresh());

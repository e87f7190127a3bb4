//! Command line of `airq-worker`.

use std::time::Duration;

use clap::Parser;

use crate::Settings;

#[derive(Debug, Clone, Parser)]
#[command(name = "airq-worker", version, about = "Answers queued airq queries")]
pub struct WorkerConfig {
    /// Reading store: sqlite://PATH or dynamodb://TABLE.
    #[arg(long, env = "AIRQ_STORE", default_value = airq_common::store::DEFAULT_STORE_URL)]
    pub store: String,
    /// Request queue: sqlite://PATH (queue airq-requests) or sqs://QUEUE-NAME.
    #[arg(long, env = "AIRQ_QUEUE", default_value = "sqlite://./data/airq.db")]
    pub queue: String,
    /// Jobs run at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Visibility timeout given to a received job (extended while it runs).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub visibility: Duration,
    /// Longest wait of one receive (a long poll; SQS allows up to 20 s). A stopping worker lets an SQS receive
    /// in flight finish (it may hold jobs), so on SQS this also bounds how long a stop takes.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub poll_wait: Duration,
    /// Largest reply message in bytes; answers are split into parts no larger.
    #[arg(long, default_value_t = airq_common::queue::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
}

impl WorkerConfig {
    pub fn settings(&self) -> Settings {
        Settings {
            concurrency: self.concurrency,
            visibility: self.visibility,
            max_message_bytes: self.max_message_bytes,
            wait: self.poll_wait,
            ..Settings::default()
        }
    }
}

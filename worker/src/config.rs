//! Command line of `airq-worker`.

use std::time::Duration;

use airq_common::backends::BackendUrls;
use airq_common::results::ResultOptions;
use airq_common::telemetry::LogFormat;
use clap::Parser;

use crate::Settings;

#[derive(Debug, Clone, Parser)]
#[command(name = "airq-worker", version, about = "Answers queued airq queries")]
pub struct WorkerConfig {
    /// Reading store: sqlite://PATH or dynamodb://TABLE.
    #[arg(long, env = "AIRQ_STORE", default_value = airq_common::defaults::EMBEDDED_URL)]
    pub store: String,
    /// Request queue: sqlite://PATH (queue airq-requests) or sqs://QUEUE-NAME.
    #[arg(long, env = "AIRQ_QUEUE", default_value = airq_common::defaults::EMBEDDED_URL)]
    pub queue: String,
    /// Result store: sqlite://PATH or dynamodb://TABLE?bucket=BUCKET (default: the SQLite store's file).
    #[arg(long, env = "AIRQ_RESULTS")]
    pub results: Option<String>,
    /// Stored (compressed) answers kept at most: on the embedded store the total on disk (answers already
    /// fetched are evicted first); on AWS the largest one answer. A larger answer fails as too large.
    #[arg(long, env = "AIRQ_RESULT_BUDGET", default_value = "1GiB", value_parser = airq_common::parse_bytes)]
    pub result_budget: u64,
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
    /// Compressed bytes per stored answer part.
    #[arg(long, default_value = "256KiB", value_parser = airq_common::parse_bytes)]
    pub part_size: u64,
    /// Log lines as text or JSON.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl WorkerConfig {
    pub fn settings(&self) -> Settings {
        Settings {
            concurrency: self.concurrency,
            visibility: self.visibility,
            wait: self.poll_wait,
            ..Settings::default()
        }
    }

    pub fn urls(&self) -> BackendUrls {
        BackendUrls {
            store: self.store.clone(),
            queue: self.queue.clone(),
            results: self.results.clone(),
        }
    }

    pub fn result_options(&self) -> ResultOptions {
        ResultOptions {
            budget: self.result_budget,
            part_bytes: usize::try_from(self.part_size).unwrap_or(usize::MAX),
        }
    }
}

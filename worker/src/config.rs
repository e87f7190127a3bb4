//! Command line of `airq-worker`.

use std::time::Duration;

use airq_common::backends::{BackendArgs, BackendUrls};
use airq_common::results::ResultOptions;
use airq_common::telemetry::LogFormat;
use clap::Parser;

use crate::Settings;

#[derive(Debug, Clone, Parser)]
#[command(name = "airq-worker", version, about = "Answers queued airq queries")]
pub struct WorkerConfig {
    #[command(flatten)]
    pub backends: BackendArgs,
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
    /// Serve Prometheus `/metrics` on this address (e.g. 0.0.0.0:9100; port 0 picks one, logged).
    #[arg(long, env = "AIRQ_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
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
        self.backends.urls()
    }

    pub fn result_options(&self) -> ResultOptions {
        self.backends.result_options()
    }
}

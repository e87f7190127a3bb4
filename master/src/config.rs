//! Command line of `airq-master`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::source::Format;

/// Readings per store write by default. Each SQLite batch is one transaction, so larger batches cost less per
/// reading; 20,000 readings are a few MB in memory, and two batches are in the pipeline at most (see
/// `docs/benchmarks.md` for the measurements behind the figure).
pub const DEFAULT_BATCH: usize = airq_common::defaults::INGEST_BATCH;

#[derive(Debug, Parser)]
#[command(
    name = "airq-master",
    version,
    about = "Ingests Sensor.Community data into the airq store"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as text or JSON.
    #[arg(long, global = true, value_enum, default_value_t = airq_common::telemetry::LogFormat::Text)]
    pub log_format: airq_common::telemetry::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest a feed file, a folder of archive CSVs, or a feed URL; once, or on a schedule with --every.
    Ingest(IngestArgs),
}

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// A feed file (.json), an archive file (.csv), a folder of archive files, or an http(s) URL of a feed.
    #[arg(long)]
    pub source: String,
    /// The source's format (detected from the source when omitted).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Reading store: sqlite://PATH or dynamodb://TABLE.
    #[arg(long, env = "AIRQ_STORE", default_value = airq_common::store::DEFAULT_STORE_URL)]
    pub store: String,
    /// Run now, then again every interval (e.g. 5m) ±10% random jitter, until Ctrl-C/SIGTERM; a failed run is
    /// logged and retried at the next tick. Without it, run once.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub every: Option<Duration>,
    /// Country for archive rows (archive files have no country column).
    #[arg(long, default_value = "")]
    pub country: String,
    /// Readings per store write (one transaction in SQLite; split into requests of 25 for DynamoDB).
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
    /// Give up on an HTTP fetch (including reading its body) after this long.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub http_timeout: Duration,
    /// Print each run's summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Serve Prometheus `/metrics` on this address while running (e.g. 0.0.0.0:9101; useful with --every).
    #[arg(long, env = "AIRQ_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Create the store if it does not exist (the first run). Without it, a missing SQLite file is an error
    /// (exit 1): a moved store or a mistyped path must not be silently replaced by a new, empty store.
    #[arg(long)]
    pub create: bool,
}

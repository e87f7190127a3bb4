//! Command line of `airq-loadtest`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::client::{ApiKey, PollMode};

#[derive(Debug, Parser)]
#[command(
    name = "airq-loadtest",
    version,
    about = "Load generator for airq gateways: open or closed loop, follows the queued-job protocol",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the legacy scenarios (and larger ones) in closed loop and print one table.
    Sweep(SweepArgs),
    /// Write a deterministic synthetic feed shaped like the real Sensor.Community data.
    GenFeed(GenFeedArgs),
    /// Serve fixed bytes with a minimal hyper server: the ceiling to compare airq against.
    Ceiling(CeilingArgs),
    /// Misbehaving clients (stalled readers, slow heads and bodies, idle sockets) to run beside a normal load;
    /// fails if the gateway lets any of them hold a connection past --expect-cut-within.
    Slow(SlowArgs),
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The gateway, e.g. http://127.0.0.1:8080
    pub url: Option<String>,
    /// Closed loop: total requests.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Closed loop: clients sending at once.
    #[arg(short = 'c', long, default_value_t = 10)]
    pub concurrency: usize,
    /// Open loop (the default mode): arrivals per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: how long arrivals go on.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Open loop: requests open at most; arrivals beyond are dropped and counted.
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,
    #[command(flatten)]
    pub mix: MixArgs,
    /// How queued jobs are polled.
    #[arg(long, value_enum, default_value_t = PollMode::Wait)]
    pub poll: PollMode,
    /// Give up on one request (including its polling) after this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Hard limit on the whole run.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_time: Duration,
    /// Do not offer `Accept-Encoding: gzip`: answers arrive as plain CSV (for a gateway that serves queued
    /// answers, the path where it decompresses them itself).
    #[arg(long)]
    pub no_gzip: bool,
    /// Send this share of requests (0..1) with `Prefer: respond-async`, spread evenly: a mix of direct and
    /// queued answers whatever the gateway's direct limit.
    #[arg(long, default_value_t = 0.0)]
    pub prefer_async: f64,
    /// The gateway's API key, sent as `Authorization: Bearer KEY` on every request (prefer the environment
    /// variable: a command line is visible to other users of the machine).
    #[arg(long, env = "AIRQ_API_KEY", hide_env_values = true)]
    pub api_key: Option<ApiKey>,
    /// Write the report as JSON (schema airq-loadtest/1, see docs/loadtest.md).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw latency percentiles and latency over time as SVG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Exit non-zero when a condition holds, e.g. 'p99>250ms,errors>0'.
    #[arg(long)]
    pub fail_if: Option<String>,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MixArgs {
    /// Query bodies, one legacy JSON object per line.
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// Built-in generator: the data's time span, START,END (RFC 3339). Default: the target's data, from its
    /// /api/status (oldest to newest reading); the sample day 2019-04-16 if that cannot be read.
    #[arg(long)]
    pub span: Option<String>,
    /// Built-in generator: each query's window (its selectivity in time).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub window: Duration,
    /// Built-in generator: countries to pick from ("" for no country filter).
    #[arg(long, default_value = "DE,NL,BE,PL,FR,AT,BG")]
    pub countries: String,
    /// Built-in generator: distinct queries.
    #[arg(long, default_value_t = 200)]
    pub distinct: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    pub url: String,
    /// Scenarios as REQUESTS/CONCURRENCY, comma-separated.
    #[arg(
        long,
        default_value = "10/10,100/50,500/100,1000/500,2500/500,5000/1000"
    )]
    pub scenarios: String,
    #[command(flatten)]
    pub mix: MixArgs,
    #[arg(long, value_enum, default_value_t = PollMode::Wait)]
    pub poll: PollMode,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_time: Duration,
    /// The gateway's API key (see the single run's --api-key).
    #[arg(long, env = "AIRQ_API_KEY", hide_env_values = true)]
    pub api_key: Option<ApiKey>,
    /// Write every scenario's report as one JSON array.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw p50/p99 by scenario as SVG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct GenFeedArgs {
    #[arg(long, default_value_t = 1000)]
    pub sensors: usize,
    #[arg(long, default_value_t = 1)]
    pub hours: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds between a sensor's readings.
    #[arg(long, default_value_t = 300)]
    pub interval: u32,
    /// First reading's time (RFC 3339).
    #[arg(long, default_value = "2019-04-16T00:00:00Z")]
    pub start: String,
    /// Output file (default stdout).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct CeilingArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The bytes to serve.
    #[arg(long)]
    pub body_file: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct SlowArgs {
    /// The gateway, e.g. http://127.0.0.1:8080 (plain HTTP; the slow clients speak raw HTTP/1.1).
    pub url: String,
    /// Slow clients at once (their behaviours are dealt round-robin).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// How long they keep coming back.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// A connection the server has not closed after this long is a failure.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub expect_cut_within: Duration,
    /// The large answer a stalled reader asks for (a path and query on the gateway).
    #[arg(
        long,
        default_value = "/api/query?start=2019-04-16T00:00:00Z&end=2019-04-17T00:00:00Z"
    )]
    pub big_path: String,
    /// Sent as `Authorization: Bearer KEY` (also AIRQ_API_KEY).
    #[arg(long, env = "AIRQ_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

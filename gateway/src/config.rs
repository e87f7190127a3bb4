//! Command line of `airq-gateway`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use airq_common::backends::{BackendArgs, BackendUrls};
use airq_common::results::ResultOptions;
use airq_common::telemetry::LogFormat;

use crate::app::GatewayOptions;
use crate::routes::RequestLimits;
use crate::server::ServerLimits;
use crate::state::Settings;

#[derive(Debug, Clone, Parser)]
#[command(name = "airq-gateway", version, about = "airq's HTTP front door")]
pub struct GatewayConfig {
    /// Address to serve on (port 0 picks a free port; the chosen address is logged).
    #[arg(long, env = "AIRQ_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub backends: BackendArgs,
    /// This gateway's reply queue is named PREFIX-<uuid> (a deployed stack uses airq-<stack>-reply).
    #[arg(long, env = "AIRQ_REPLY_QUEUE_PREFIX", default_value = crate::app::DEFAULT_REPLY_QUEUE_PREFIX)]
    pub reply_queue_prefix: String,
    /// How often this gateway marks its reply queue alive.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub reply_queue_heartbeat: Duration,
    /// A reply queue without a heartbeat for this long belongs to a dead gateway; any gateway's sweep removes it.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub reply_queue_orphan_after: Duration,
    /// How often the result store (timeouts, expiry, freed space) and the reply queues are swept.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub sweep_every: Duration,
    /// Direct answers in flight at most; further queries are queued.
    #[arg(long, default_value_t = 100)]
    pub direct_limit: usize,
    /// How long a finished result stays fetchable.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub result_ttl: Duration,
    /// A queued job with no answer after this long is reported failed (504).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub job_deadline: Duration,
    /// Largest request body accepted.
    #[arg(long, default_value = "64KiB", value_parser = parse_bytes)]
    pub max_body: usize,
    /// Log lines as text or JSON.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Time a client has to send its request headers, and its body.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub read_timeout: Duration,
    /// A client that reads nothing of a response for this long is disconnected.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub write_timeout: Duration,
    /// Connections open at once (default: 4096, or less under the process's descriptor limit); one more is
    /// answered 503 and closed.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// API requests per second per client (bursts of twice that; 429 beyond); 0 = no limit.
    #[arg(long, default_value_t = 50)]
    pub rate_limit: u32,
    /// Queued queries per second per client (bursts of ten times that; 429 beyond); 0 = no limit.
    #[arg(long, default_value_t = 5)]
    pub queue_rate_limit: u32,
    /// Queries waiting in the request queue at most (503 beyond); 0 = no bound.
    #[arg(long, default_value_t = 10_000)]
    pub max_queue_depth: u64,
    /// Apply the per-client limits to loopback clients too (trusted by default).
    #[arg(long)]
    pub limit_loopback: bool,
    /// Time in-flight requests get to finish at shutdown.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Run the whole system in this process: ingest (master), workers and the gateway, on the embedded backends.
    #[arg(long)]
    pub standalone: bool,
    /// Standalone: worker tasks to run.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Standalone: jobs each worker runs at once.
    #[arg(long, default_value_t = 4)]
    pub worker_concurrency: usize,
    /// Standalone: what to ingest (file, folder or URL); default the bundled real sample feed.
    #[arg(long)]
    pub source: Option<String>,
    /// Standalone: ingest again at this interval (e.g. 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub every: Option<Duration>,
    /// Let pages from ORIGIN (e.g. https://dash.example.org) call the API from a browser (CORS); repeatable;
    /// none by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = crate::routes::cors::parse_origin)]
    pub cors_origins: Vec<axum::http::HeaderValue>,
}

impl GatewayConfig {
    pub fn options(&self) -> GatewayOptions {
        GatewayOptions {
            direct_limit: self.direct_limit,
            settings: Settings {
                max_body: self.max_body,
                result_ttl: self.result_ttl,
                job_deadline: self.job_deadline,
                ..Settings::default()
            },
            request: RequestLimits {
                max_body: self.max_body,
                body_timeout: self.read_timeout,
            },
            server: ServerLimits {
                header_timeout: self.read_timeout,
                shutdown_grace: self.shutdown_grace,
                write_timeout: self.write_timeout,
                max_connections: self
                    .max_connections
                    .unwrap_or_else(crate::server::default_max_connections),
                ..ServerLimits::default()
            },
            reply_queue_prefix: self.reply_queue_prefix.clone(),
            heartbeat_every: self.reply_queue_heartbeat,
            orphan_after: self.reply_queue_orphan_after,
            sweep_every: self.sweep_every,
            fair_use: crate::fair_use::FairUseLimits {
                requests_per_second: self.rate_limit,
                queued_per_second: self.queue_rate_limit,
                max_queue_depth: self.max_queue_depth,
                limit_loopback: self.limit_loopback,
            },
            cors_origins: self.cors_origins.clone(),
            ..GatewayOptions::default()
        }
    }

    pub fn urls(&self) -> BackendUrls {
        self.backends.urls()
    }

    pub fn result_options(&self) -> ResultOptions {
        self.backends.result_options()
    }

    pub fn worker_settings(&self) -> airq_worker::Settings {
        airq_worker::Settings {
            concurrency: self.worker_concurrency,
            ..airq_worker::Settings::default()
        }
    }
}

/// A size such as `64KiB`, as a `usize`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    airq_common::parse_bytes(text)
        .and_then(|n| usize::try_from(n).map_err(|_| format!("{text:?} is too large")))
}

//! Command line of `airq-gateway`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airq_common::api_keys::ApiKeys;

use clap::Parser;

use airq_common::backends::{BackendArgs, BackendUrls};
use airq_common::results::ResultOptions;
use airq_common::telemetry::LogFormat;

use crate::app::GatewayOptions;
use crate::routes::RequestLimits;
use crate::server::ServerLimits;
use crate::state::Settings;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "airq-gateway",
    version,
    about = "airq's HTTP front door",
    args_conflicts_with_subcommands = true
)]
pub struct GatewayConfig {
    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// Memory for whole answers to repeated questions (served without reading the store; a write retires
    /// them within a second); `0` turns the cache off.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes)]
    pub answer_cache: usize,
    /// Serve `/metrics` (Prometheus) on this address only, e.g. 0.0.0.0:9100, a port an operator can open to
    /// the scraper alone; without it `/metrics` is on the API port (behind the API key when keys are on).
    #[arg(long, env = "AIRQ_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
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
    /// Queued queries one client may have pending at once on this gateway (429 beyond); 0 = no bound.
    #[arg(long, default_value_t = 100)]
    pub max_pending_per_client: usize,
    /// Apply the per-client limits to loopback clients too (trusted by default).
    #[arg(long)]
    pub limit_loopback: bool,
    /// Require an API key (`Authorization: Bearer`) on every API request: a file of `NAME sha256:HEX` lines
    /// (make one with `airq-gateway new-api-key NAME`). Off by default; required to listen beyond loopback
    /// unless --no-api-keys.
    #[arg(long, env = "AIRQ_API_KEYS", value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// Serve the API without keys even on a non-loopback address (a deliberate choice: anyone who can reach
    /// the address can query, and read or cancel any job whose id they learn).
    #[arg(long, conflicts_with = "api_keys")]
    pub no_api_keys: bool,
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

/// What the binary can do besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Makes a new API key: prints the key (shown once; give it to NAME) on stderr and its keys-file line on
    /// stdout, so `airq-gateway new-api-key alice >> keys` adds it.
    NewApiKey {
        /// Who the key is for (1-64 of letters, digits and _ . - @); their jobs and rate limits go by it.
        name: String,
    },
}

/// Why a configuration cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Keys(#[from] airq_common::api_keys::KeysError),
    #[error(
        "refusing to serve the API without keys on {0}, which is not a loopback address: pass          --api-keys FILE (make keys with `airq-gateway new-api-key NAME >> FILE`), or --no-api-keys to serve          it open on purpose"
    )]
    OpenOnPublicAddress(SocketAddr),
}

impl GatewayConfig {
    /// The API keys to require, checking that a public address does not serve an open API by accident.
    pub fn api_keys(&self) -> Result<Option<Arc<ApiKeys>>, ConfigError> {
        match &self.api_keys {
            Some(path) => Ok(Some(Arc::new(ApiKeys::load(path)?))),
            None if self.listen.ip().to_canonical().is_loopback() || self.no_api_keys => Ok(None),
            None => Err(ConfigError::OpenOnPublicAddress(self.listen)),
        }
    }

    /// The gateway's options, with the API keys read.
    pub fn options(&self) -> Result<GatewayOptions, ConfigError> {
        Ok(GatewayOptions {
            api_keys: self.api_keys()?,
            metrics_listen: self.metrics_listen,
            direct_limit: self.direct_limit,
            settings: Settings {
                max_body: self.max_body,
                result_ttl: self.result_ttl,
                job_deadline: self.job_deadline,
                answer_cache: self.answer_cache as u64,
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
                max_pending_per_client: self.max_pending_per_client,
                limit_loopback: self.limit_loopback,
            },
            cors_origins: self.cors_origins.clone(),
            ..GatewayOptions::default()
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> GatewayConfig {
        GatewayConfig::try_parse_from(std::iter::once("airq-gateway").chain(args.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn an_open_api_beyond_loopback_is_refused_unless_chosen() {
        for listen in ["127.0.0.1:0", "[::1]:0", "127.0.0.2:8080"] {
            let options = parse(&["--listen", listen]).options().expect("loopback");
            assert!(options.api_keys.is_none(), "{listen}: keys off by default");
        }
        for listen in ["0.0.0.0:8080", "[::]:8080", "192.0.2.10:80"] {
            let refused = parse(&["--listen", listen]).options();
            assert!(
                matches!(refused, Err(ConfigError::OpenOnPublicAddress(_))),
                "{listen}: {refused:?}"
            );
            let open = parse(&["--listen", listen, "--no-api-keys"]).options();
            assert!(open.expect("chosen").api_keys.is_none());
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("keys");
        let key = airq_common::api_keys::new_key();
        std::fs::write(&file, airq_common::api_keys::file_line("ops", &key)).expect("write");
        let path = file.to_str().expect("utf8");
        let keyed = parse(&["--listen", "0.0.0.0:8080", "--api-keys", path])
            .options()
            .expect("keyed");
        assert_eq!(keyed.api_keys.expect("keys on").identify(&key), Some("ops"));
        std::fs::write(&file, "ops nothex\n").expect("write");
        assert!(matches!(
            parse(&["--api-keys", path]).options(),
            Err(ConfigError::Keys(_))
        ));
        assert!(GatewayConfig::try_parse_from([
            "airq-gateway",
            "--api-keys",
            path,
            "--no-api-keys"
        ])
        .is_err());
    }

    #[test]
    fn new_api_key_is_a_subcommand() {
        let config = parse(&["new-api-key", "alice"]);
        assert!(matches!(config.command, Some(Command::NewApiKey { name }) if name == "alice"));
    }
}

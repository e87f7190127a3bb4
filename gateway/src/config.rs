//! Command line of `airq-gateway`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::app::GatewayOptions;
use crate::results::Limits;
use crate::routes::RequestLimits;
use crate::server::ServerLimits;
use crate::state::Settings;

#[derive(Debug, Clone, Parser)]
#[command(name = "airq-gateway", version, about = "airq's HTTP front door")]
pub struct GatewayConfig {
    /// Address to serve on (port 0 picks a free port; the chosen address is logged).
    #[arg(long, env = "AIRQ_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Reading store: sqlite://PATH or dynamodb://TABLE.
    #[arg(long, env = "AIRQ_STORE", default_value = airq_common::store::DEFAULT_STORE_URL)]
    pub store: String,
    /// Request queue: sqlite://PATH (queue airq-requests) or sqs://QUEUE-NAME.
    #[arg(long, env = "AIRQ_QUEUE", default_value = "sqlite://./data/airq.db")]
    pub queue: String,
    /// This gateway's reply queue is named PREFIX-<uuid> (a deployed stack uses airq-<stack>-reply).
    #[arg(long, env = "AIRQ_REPLY_QUEUE_PREFIX", default_value = crate::app::DEFAULT_REPLY_QUEUE_PREFIX)]
    pub reply_queue_prefix: String,
    /// Direct answers in flight at most; further queries are queued.
    #[arg(long, default_value_t = 100)]
    pub direct_limit: usize,
    /// How long a finished result stays fetchable.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub result_ttl: Duration,
    /// Bytes of results held at most (oldest evicted first), e.g. 256MiB.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    pub result_cache: usize,
    /// A queued job with no answer after this long is reported failed (504).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub job_deadline: Duration,
    /// Largest request body accepted.
    #[arg(long, default_value = "64KiB", value_parser = parse_bytes)]
    pub max_body: usize,
    /// Time a client has to send its request headers, and its body.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub read_timeout: Duration,
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
}

impl GatewayConfig {
    pub fn options(&self) -> GatewayOptions {
        GatewayOptions {
            direct_limit: self.direct_limit,
            results: Limits {
                ttl: self.result_ttl,
                budget: self.result_cache,
                job_deadline: self.job_deadline,
            },
            settings: Settings {
                max_body: self.max_body,
                ..Settings::default()
            },
            request: RequestLimits {
                max_body: self.max_body,
                body_timeout: self.read_timeout,
            },
            server: ServerLimits {
                header_timeout: self.read_timeout,
                shutdown_grace: self.shutdown_grace,
            },
            reply_queue_prefix: self.reply_queue_prefix.clone(),
            ..GatewayOptions::default()
        }
    }
}

/// Parses `1048576`, `64KiB`, `256MiB`, `1GiB` (also `KB`/`MB`/`GB`, taken as powers of 1024).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 256MiB"))?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KiB, MiB or GiB"
            ))
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("MiB").is_err());
    }
}

//! Command line of `airq-deploy`.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::stack::StackName;

#[derive(Debug, Parser)]
#[command(
    name = "airq-deploy",
    version,
    about = "Provisions, scales and tears down airq on AWS (EC2, SQS, DynamoDB, S3), or runs its workers locally",
    after_help = "Credentials and region come from the AWS default chain (environment, profile, SSO, instance \
                  role); AWS_ENDPOINT_URL is honoured. See docs/operations.md."
)]
pub struct Cli {
    /// The stack: every resource is named airq-<stack>-… and tagged airq:stack=<stack>.
    #[arg(long, global = true, env = "AIRQ_STACK", default_value = "airq")]
    pub stack: StackName,
    /// Where the stack runs: aws, or local (worker processes on this machine, for scale/autoscale/status).
    #[arg(long, global = true, value_enum, default_value_t = Provider::Aws)]
    pub provider: Provider,
    /// AWS region (default: from the environment or profile).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub local: LocalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    Aws,
    Local,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `up` would create or change, without doing it.
    Plan(UpArgs),
    /// Create or update the stack: tables, result store, queues, security groups, launch templates, instances.
    /// Idempotent.
    Up {
        #[command(flatten)]
        args: UpArgs,
        /// How long to wait for launched instances to be running (0 = do not wait).
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
    /// Print the least-privilege IAM policy of the instances' role (or the trust or operator policy).
    IamPolicy {
        /// The AWS account id (default: the caller's, from STS).
        #[arg(long)]
        account: Option<String>,
        /// Print the role's trust policy (EC2 may assume it) instead.
        #[arg(long, conflicts_with = "operator")]
        trust: bool,
        /// Print what the operator running airq-deploy needs instead.
        #[arg(long)]
        operator: bool,
    },
    /// Instances per role and state, gateway URLs, queue depth, table item count, result store.
    Status,
    /// Launch or terminate workers to reach N (terminating the newest first).
    Scale {
        #[arg(long)]
        workers: u32,
        /// How long to wait for stopping workers to finish (local provider; 0 = do not wait).
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
    /// Set the worker count from the queue backlog, in a loop, until Ctrl-C.
    Autoscale(AutoscaleArgs),
    /// Remove everything of the stack (the readings table only with --delete-data).
    Down {
        /// Also delete the readings table and every reading in it (the result store is always removed).
        #[arg(long)]
        delete_data: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// How long to wait for instances to terminate before removing the security group.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// CIDR allowed to reach the gateway port, e.g. 203.0.113.0/24 (required: nothing is open by default).
    #[arg(long, value_parser = parse_cidr)]
    pub allow_cidr: String,
    /// Also open SSH (port 22) to this CIDR; closed unless given.
    #[arg(long, value_parser = parse_cidr)]
    pub ssh_cidr: Option<String>,
    /// Run every role with --metrics-listen 0.0.0.0:9100 and open TCP 9100 to this CIDR only (your Prometheus);
    /// without it no role serves a metrics port and 9100 stays closed.
    #[arg(long, value_parser = parse_cidr)]
    pub metrics_cidr: Option<String>,
    /// The airq binaries: an https:// URL of a .tar.gz with bin/airq-*, or a local file to upload to the
    /// stack's S3 bucket (scripts/package builds one).
    #[arg(long)]
    pub artifact: String,
    /// SHA-256 of an https:// artifact, checked by instances before unpacking (computed for local files).
    #[arg(long)]
    pub artifact_sha256: Option<String>,
    /// AMI id (default: what the stack already uses, else the latest Amazon Linux 2023 x86_64).
    #[arg(long)]
    pub ami: Option<String>,
    #[arg(long, default_value = "t3.small")]
    pub instance_type: String,
    /// Instance profile giving instances their AWS credentials (see `iam-policy`).
    #[arg(long)]
    pub instance_profile: Option<String>,
    /// EC2 key pair for SSH (only useful with --ssh-cidr).
    #[arg(long)]
    pub key_name: Option<String>,
    /// Subnet to launch into (default: the default VPC's).
    #[arg(long)]
    pub subnet: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub gateways: u32,
    /// Workers to launch if fewer run (up never terminates workers; scale and autoscale do).
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    /// Run no master (no ingest).
    #[arg(long)]
    pub no_master: bool,
    /// Receives before a request moves to the dead-letter queue.
    #[arg(long, default_value_t = airq_common::queue::DEFAULT_MAX_RECEIVES, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_receives: u32,
    /// Gateway port.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Gateways' --direct-limit.
    #[arg(long, default_value_t = 100)]
    pub direct_limit: u32,
    /// Workers' --concurrency.
    #[arg(long, default_value_t = 4)]
    pub worker_concurrency: u32,
    /// What the master ingests.
    #[arg(long, default_value = crate::roles::LIVE_FEED)]
    pub master_source: String,
    /// How often the master ingests.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub master_every: Duration,
    /// The gateways' API keys: a file of `NAME sha256:HEX` lines (`airq-gateway new-api-key NAME >> FILE` adds
    /// one). Instances get the hashes only. Required unless --no-api-keys.
    #[arg(long, value_name = "FILE", conflicts_with = "no_api_keys")]
    pub api_keys: Option<PathBuf>,
    /// Run the gateways without API keys: anyone --allow-cidr lets in may query them.
    #[arg(long)]
    pub no_api_keys: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AutoscaleArgs {
    #[arg(long, default_value_t = 0)]
    pub min: u32,
    #[arg(long, default_value_t = 10)]
    pub max: u32,
    /// How long a job may wait in the queue (AWS: acceptable latency).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub acceptable_latency: Duration,
    /// Mean time one worker spends per job (its job duration divided by its concurrency).
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    pub mean_job_time: Duration,
    /// Backlog per worker to aim for, instead of latency / job time.
    #[arg(long)]
    pub target_backlog: Option<f64>,
    /// Scale in only after fewer workers were wanted for this long (and this long after any change).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub cooldown: Duration,
    /// After any change, wait this long before scaling out again.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub scale_out_cooldown: Duration,
    /// Workers added or removed per decision at most.
    #[arg(long, default_value_t = 2)]
    pub max_step: u32,
    /// Time between decisions.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Print each decision without acting on it.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop after this long (default: run until Ctrl-C/SIGTERM).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

/// Options of `--provider local`.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Local provider: where worker records and logs live (default ./data/stacks/<stack>).
    #[arg(long, global = true)]
    pub state_dir: Option<PathBuf>,
    /// Local provider: the airq-worker binary (default: next to airq-deploy).
    #[arg(long, global = true)]
    pub worker_bin: Option<PathBuf>,
    /// Local provider: the store workers read.
    #[arg(long, global = true, env = "AIRQ_STORE", default_value = airq_common::store::DEFAULT_STORE_URL)]
    pub store: String,
    /// Local provider: the request queue workers take jobs from.
    #[arg(
        long,
        global = true,
        env = "AIRQ_QUEUE",
        default_value = "sqlite://./data/airq.db"
    )]
    pub queue: String,
    /// Local provider: each worker's --concurrency.
    #[arg(long, global = true, default_value_t = 4)]
    pub local_concurrency: u32,
}

/// Accepts an IPv4 CIDR such as 203.0.113.0/24. Host bits must be zero: EC2 stores `203.0.113.7/24` as
/// `203.0.113.0/24`, so the rule read back would never equal the one asked for, and every other `up` would
/// revoke and re-add it.
pub fn parse_cidr(text: &str) -> Result<String, String> {
    let (addr, bits) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not a CIDR such as 203.0.113.0/24"))?;
    let addr = addr
        .parse::<Ipv4Addr>()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    let bits = match bits.parse::<u8>() {
        Ok(b) if b <= 32 => b,
        _ => return Err(format!("/{bits} is not a prefix length from 0 to 32")),
    };
    let mask = u32::MAX.checked_shl(u32::from(32 - bits)).unwrap_or(0);
    let network = Ipv4Addr::from(u32::from(addr) & mask);
    if network != addr {
        return Err(format!(
            "{text} has host bits set; did you mean {network}/{bits}?"
        ));
    }
    Ok(format!("{network}/{bits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert!(parse_cidr("203.0.113.0/24").is_ok());
        assert!(parse_cidr("0.0.0.0/0").is_ok());
        assert!(parse_cidr("203.0.113.0").is_err());
        assert!(parse_cidr("203.0.113.0/33").is_err());
        assert!(parse_cidr("example.org/24").is_err());
        assert_eq!(parse_cidr("192.0.2.7/32"), Ok("192.0.2.7/32".to_string()));
        let err = parse_cidr("203.0.113.7/24").expect_err("host bits");
        assert!(err.contains("did you mean 203.0.113.0/24"), "{err}");
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn metrics_cidr_is_checked_like_the_others() {
        let up = |cidr: &str| {
            Cli::try_parse_from([
                "airq-deploy",
                "up",
                "--allow-cidr",
                "203.0.113.0/24",
                "--artifact",
                "x.tar.gz",
                "--metrics-cidr",
                cidr,
            ])
        };
        let cli = up("192.0.2.0/28").expect("a CIDR");
        let Command::Up { args, .. } = cli.command else {
            panic!("not up")
        };
        assert_eq!(args.metrics_cidr.as_deref(), Some("192.0.2.0/28"));
        let err = up("192.0.2.1/28").expect_err("host bits");
        assert!(
            err.to_string().contains("did you mean 192.0.2.0/28"),
            "{err}"
        );
        assert!(up("prometheus.internal").is_err());
    }

    #[test]
    fn allow_cidr_is_required_for_up() {
        let err = Cli::try_parse_from(["airq-deploy", "up", "--artifact", "x.tar.gz"])
            .expect_err("needs cidr");
        assert!(err.to_string().contains("--allow-cidr"), "{err}");
    }
}

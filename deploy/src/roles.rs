//! How each role runs on an instance: its settings, arguments and stop timeout, from the stack's options.

use std::time::Duration;

use crate::api_keys::GatewayAccess;
use crate::stack::{Role, StackName};
use crate::userdata::Bootstrap;

/// The live Sensor.Community feed (all sensors, last 5 minutes), the master's default source.
pub const LIVE_FEED: &str = "https://data.sensor.community/static/v2/data.json";

/// The port every role serves Prometheus metrics on with `up --metrics-cidr`: the node-exporter convention,
/// and what the shipped scrape configuration (`docs/ops/prometheus.yml`) finds instances on.
pub const METRICS_PORT: u16 = 9100;

/// Options of the roles themselves (as opposed to where they run).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleOptions {
    /// Port the gateways listen on (and the security group opens).
    pub port: u16,
    /// Gateways' `--direct-limit`.
    pub direct_limit: u32,
    /// Workers' `--concurrency`.
    pub worker_concurrency: u32,
    /// What the master ingests.
    pub master_source: String,
    /// How often the master ingests.
    pub master_every: Duration,
    /// Who may use the gateways.
    pub api: GatewayAccess,
    /// Every role serves metrics on `0.0.0.0:`[`METRICS_PORT`] (`--metrics-listen`); off unless
    /// `--metrics-cidr` is given, so a stack without it renders exactly as before.
    pub metrics: bool,
}

impl RoleOptions {
    /// The command line's defaults with the given gateway access. There is no `Default`: whether gateways
    /// need keys is always said, never assumed.
    pub fn new(api: GatewayAccess) -> Self {
        RoleOptions {
            port: 8080,
            direct_limit: 100,
            worker_concurrency: 4,
            master_source: LIVE_FEED.to_string(),
            master_every: Duration::from_secs(300),
            api,
            metrics: false,
        }
    }
}

/// Where the binaries come from, as instances see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLocation {
    /// `s3://bucket/key` or an `https://` URL.
    pub url: String,
    pub sha256: Option<String>,
}

/// The bootstrap of one role's instances. `results_bucket` is the stack's results bucket: gateways and workers
/// share queued queries' answers through the result store (its table and that bucket), so an answer a worker
/// stored can be fetched from any gateway.
pub fn bootstrap(
    stack: &StackName,
    region: &str,
    results_bucket: &str,
    role: Role,
    options: &RoleOptions,
    artifact: &ArtifactLocation,
) -> Bootstrap {
    let store = format!("dynamodb://{}", stack.table());
    let queue = format!("sqs://{}", stack.request_queue());
    let results = stack.results_url(results_bucket);
    let mut environment = vec![
        ("AWS_REGION".to_string(), region.to_string()),
        ("RUST_LOG".to_string(), "info".to_string()),
        ("AIRQ_STORE".to_string(), store),
    ];
    let mut api_keys = None;
    let (mut args, stop_timeout) = match role {
        Role::Gateway => {
            environment.push(("AIRQ_QUEUE".into(), queue));
            environment.push(("AIRQ_RESULTS".into(), results));
            environment.push(("AIRQ_LISTEN".into(), format!("0.0.0.0:{}", options.port)));
            environment.push(("AIRQ_REPLY_QUEUE_PREFIX".into(), stack.reply_queue_prefix()));
            if let GatewayAccess::Keys(keys) = &options.api {
                api_keys = Some(keys.text());
            }
            let mut args = vec!["--direct-limit".into(), options.direct_limit.to_string()];
            args.extend(options.api.gateway_args());
            // The gateway's own shutdown grace is 20 s.
            (args, Duration::from_secs(30))
        }
        Role::Worker => {
            environment.push(("AIRQ_QUEUE".into(), queue));
            environment.push(("AIRQ_RESULTS".into(), results));
            // A worker drains its jobs in hand on SIGTERM; a job's visibility is 60 s, so 90 s covers it.
            (
                vec![
                    "--concurrency".into(),
                    options.worker_concurrency.to_string(),
                ],
                Duration::from_secs(90),
            )
        }
        Role::Master => (
            vec![
                "ingest".into(),
                "--source".into(),
                options.master_source.clone(),
                "--every".into(),
                humantime::format_duration(options.master_every)
                    .to_string()
                    .replace(' ', ""),
            ],
            // A stop waits for the current write batch.
            Duration::from_secs(60),
        ),
    };
    if options.metrics {
        // Last, so that the master's `ingest` subcommand takes it like its other options.
        args.extend(["--metrics-listen".into(), format!("0.0.0.0:{METRICS_PORT}")]);
    }
    Bootstrap {
        stack: stack.clone(),
        role,
        region: region.to_string(),
        artifact: artifact.url.clone(),
        artifact_sha256: artifact.sha256.clone(),
        environment,
        args,
        api_keys,
        stop_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::KeysFile;
    use airq_common::api_keys::{file_line, new_key};

    /// Role options whose gateways need a key of its own.
    fn with_keys() -> (RoleOptions, String) {
        let key = new_key();
        let keys = KeysFile::parse(&file_line("alice", &key)).expect("parses");
        (RoleOptions::new(GatewayAccess::Keys(keys)), key)
    }

    #[test]
    fn every_role_renders() {
        let stack: StackName = "prod".parse().expect("valid");
        let artifact = ArtifactLocation {
            url: "https://example.org/airq.tar.gz".into(),
            sha256: None,
        };
        for role in Role::ALL {
            let script = bootstrap(
                &stack,
                "eu-west-1",
                "airq-prod-results-0a1b2c3d",
                role,
                &with_keys().0,
                &artifact,
            )
            .render()
            .expect("renders");
            assert!(script.contains(&format!("ExecStart=/opt/airq/bin/{}", role.binary())));
            assert!(script.contains("AIRQ_STORE=dynamodb://airq-prod-readings"));
            // Gateways and workers share the result store; the master never touches it.
            let results =
                "AIRQ_RESULTS=dynamodb://airq-prod-results?bucket=airq-prod-results-0a1b2c3d\n";
            assert_eq!(
                script.contains(results),
                role != Role::Master,
                "{role}: {script}"
            );
        }
    }

    /// `--metrics-cidr`: every role serves metrics on the metrics port; without it no role gets the flag.
    #[test]
    fn metrics_listen_only_when_asked() {
        let stack: StackName = "prod".parse().expect("valid");
        let artifact = ArtifactLocation {
            url: "https://example.org/a.tar.gz".into(),
            sha256: None,
        };
        let off = RoleOptions::new(GatewayAccess::Open);
        let on = RoleOptions {
            metrics: true,
            ..off.clone()
        };
        for role in Role::ALL {
            let of = |options: &RoleOptions| {
                bootstrap(&stack, "eu-west-1", "b", role, options, &artifact).args
            };
            assert!(!of(&off).iter().any(|a| a.contains("metrics")), "{role}");
            let args = of(&on);
            assert_eq!(
                args[args.len() - 2..],
                ["--metrics-listen", "0.0.0.0:9100"],
                "{role}"
            );
        }
    }

    #[test]
    fn master_interval_is_one_word() {
        let stack: StackName = "prod".parse().expect("valid");
        let options = RoleOptions {
            master_every: Duration::from_secs(3660),
            ..RoleOptions::new(GatewayAccess::Open)
        };
        let artifact = ArtifactLocation {
            url: "https://example.org/a.tar.gz".into(),
            sha256: None,
        };
        let b = bootstrap(
            &stack,
            "eu-west-1",
            "airq-prod-results-0a1b2c3d",
            Role::Master,
            &options,
            &artifact,
        );
        assert_eq!(b.args.last().map(String::as_str), Some("1h1m"));
    }

    #[test]
    fn only_gateways_get_the_keys_file_and_its_flag() {
        let stack: StackName = "prod".parse().expect("valid");
        let artifact = ArtifactLocation {
            url: "https://example.org/a.tar.gz".into(),
            sha256: None,
        };
        let (options, key) = with_keys();
        let open = RoleOptions::new(GatewayAccess::Open);
        let of = |role, options: &RoleOptions| {
            bootstrap(&stack, "eu-west-1", "b", role, options, &artifact)
        };
        let gateway = of(Role::Gateway, &options);
        assert_eq!(
            gateway.args,
            [
                "--direct-limit",
                "100",
                "--api-keys",
                crate::api_keys::KEYS_PATH
            ]
        );
        assert_eq!(
            gateway.api_keys,
            Some(format!("{}\n", file_line("alice", &key)))
        );
        let gateway = of(Role::Gateway, &open);
        assert_eq!(gateway.args, ["--direct-limit", "100", "--no-api-keys"]);
        assert_eq!(gateway.api_keys, None);
        for role in [Role::Master, Role::Worker] {
            let b = of(role, &options);
            assert_eq!(b.api_keys, None, "{role}");
            assert!(!b.args.iter().any(|a| a.contains("api-keys")), "{role}");
        }
    }
}

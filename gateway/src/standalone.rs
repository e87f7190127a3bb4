//! The `airq-gateway` process: a gateway against shared backends, or (`--standalone`) the whole system in one
//! process on the embedded backends, which is how a fresh machine runs airq with one command.

use anyhow::Context;

use airq_common::store::Creation;

use crate::config::{Command, GatewayConfig};
use crate::system::{IngestPlan, SystemBuilder};

/// Runs until Ctrl-C or SIGTERM.
pub async fn main(config: GatewayConfig) -> anyhow::Result<()> {
    if let Some(Command::NewApiKey { name }) = &config.command {
        return new_api_key(name);
    }
    let mut builder = SystemBuilder::new(config.urls())
        .result_options(config.result_options())
        .gateway(config.options()?)
        // Standalone is the first-run command: it makes its store. A gateway alone serves one made by the
        // master (`airq-master ingest --create`), and must not replace a moved one with an empty file.
        .store_creation(if config.standalone {
            Creation::IfMissing
        } else {
            Creation::Never
        })
        .listen(config.listen);
    if config.standalone {
        let plan = match &config.source {
            Some(source) => IngestPlan::Source {
                source: source.clone(),
                every: config.every,
            },
            None => IngestPlan::Sample,
        };
        builder = builder
            .workers(config.workers, config.worker_settings())
            .ingest(plan);
    }
    let system = builder.start().await?;
    // The first line on stdout names the bound address, so scripts and tests can use `--listen 127.0.0.1:0`.
    println!("airq-gateway listening on {}", system.base_url());
    if config.standalone {
        print_banner(&system.base_url());
    }
    let stop = system.stop_token();
    tokio::spawn(async move {
        airq_common::shutdown::signal().await;
        tracing::info!("stop requested");
        stop.cancel();
    });
    system.stopped().await.context("stopping")
}

/// `airq-gateway new-api-key NAME`: the key to the terminal, the line for the keys file to stdout.
fn new_api_key(name: &str) -> anyhow::Result<()> {
    use airq_common::api_keys::{check_name, file_line, new_key};
    check_name(name).map_err(anyhow::Error::msg)?;
    let key = new_key();
    eprintln!("API key for {name} (shown once; the keys file keeps only its hash):\n{key}");
    println!("{}", file_line(name, &key));
    Ok(())
}

fn print_banner(base: &str) {
    println!(
        "\nairq is running at {base}  (Ctrl-C stops it)\n\n\
         Web console: {base}/ in a browser\n\n\
         Try:\n  \
         curl '{base}/readyz'\n  \
         curl '{base}/api/query?start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z&country=DE'\n  \
         curl -X POST '{base}/api/query' -H 'Content-Type: application/json' \\\n       \
         -d '{{\"startDate\": \"2019-04-16 14:00:00\", \"endDate\": \"2019-04-16 15:00:00\", \"range\": \"Low\", \"minAqi\": 0, \"maxAqi\": 10}}'\n  \
         curl -i -H 'Prefer: respond-async' '{base}/api/query?start=2019-04-16&end=2019-04-17'   # 202 + Location\n  \
         curl '{base}/results/<id>?wait=10s'\n  \
         curl '{base}/api/status'                 # data freshness, last ingest, queue, workers\n  \
         curl '{base}/metrics'                    # Prometheus\n"
    );
}

use std::process::ExitCode;

use airq_common::backends::Backends;
use airq_worker::{Worker, WorkerConfig};
use anyhow::Context;
use clap::Parser;

fn main() -> ExitCode {
    // Before any thread or allocation of note: see `airq_common::malloc`.
    airq_common::malloc::cap_arenas();
    run_main()
}

#[tokio::main]
async fn run_main() -> ExitCode {
    let config = WorkerConfig::parse();
    airq_common::telemetry::init(config.log_format, airq_common::telemetry::SERVICE_LEVEL);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "airq-worker failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let stop = airq_common::shutdown::on_signal();
    airq_common::metrics::install("worker");
    if let Some(addr) = config.metrics_listen {
        let bound = airq_common::metrics::spawn_listener(addr, stop.clone())
            .await
            .with_context(|| format!("binding the metrics listener {addr}"))?;
        // On stdout, like the gateway's address, so that scripts and tests can use port 0.
        println!("airq-worker metrics on http://{bound}/metrics");
    }
    // A worker never makes the store: a missing file means a wrong path or a moved store, not a first run.
    airq_common::store::check_exists(&config.urls().store, airq_common::store::Creation::Never)?;
    let backends = Backends::open(&config.urls(), config.result_options())
        .await
        .context("opening the backends")?;
    let requests = backends
        .queues
        .open_or_create(&backends.request_queue, &Default::default())
        .await
        .context("opening the request queue")?;
    tracing::info!(store = %backends.store.describe(), queue = %backends.request_queue,
        results = %backends.results.describe(), "airq-worker started");
    Worker::new(&backends, requests, config.settings())
        .run(stop)
        .await;
    Ok(())
}

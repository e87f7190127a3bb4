use std::process::ExitCode;

use airq_worker::{Worker, WorkerConfig};
use anyhow::Context;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(WorkerConfig::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "airq-worker failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let store = airq_common::open_store(&config.store)
        .await
        .context("opening the store")?;
    let (queues, name) = airq_common::queue::open_service(&config.queue)
        .await
        .context("opening the queue")?;
    let requests = queues
        .open_or_create(&name, &Default::default())
        .await
        .context("opening the request queue")?;
    tracing::info!(store = %store.describe(), queue = %name, "airq-worker started");
    Worker::new(store, queues, requests, config.settings())
        .run(airq_common::shutdown::shutdown_signal())
        .await;
    Ok(())
}

//! Starting the gateway: alone (against shared backends), or standalone with master and workers in the same
//! process on the embedded backends, which is how a fresh machine runs the whole system with one command.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airq_common::store::ReadingStore;
use airq_master::config::IngestArgs;
use airq_master::ingest::Ingest;
use airq_master::source::Format;
use airq_master::summary::IngestSummary;
use airq_master::IngestError;
use airq_worker::{Settings as WorkerSettings, Worker};
use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::GatewayConfig;
use crate::Gateway;

/// The bundled real Sensor.Community snapshot (credit: Sensor.Community, ODbL), compiled in so that standalone
/// mode works from any directory.
pub const SAMPLE_FEED: &[u8] = include_bytes!("../../data/feed/sensor-community-2019-04-16.json");

/// Runs the gateway (and in standalone mode, master and workers) until Ctrl-C or SIGTERM.
pub async fn main(config: GatewayConfig) -> anyhow::Result<()> {
    let store = airq_common::open_store(&config.store)
        .await
        .context("opening the store")?;
    let (queues, request_queue) = airq_common::queue::open_service(&config.queue)
        .await
        .context("opening the queue")?;
    let gateway = Gateway::start(
        store.clone(),
        queues.clone(),
        &request_queue,
        config.options(),
    )
    .await
    .context("creating the gateway's queues")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // The first line on stdout names the bound address, so scripts and tests can use `--listen 127.0.0.1:0`.
    println!("airq-gateway listening on http://{addr}");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut workers = tokio::task::JoinSet::new();
    if config.standalone {
        gateway.state.ready.store(false, Ordering::Release);
        for _ in 0..config.workers {
            let settings = WorkerSettings {
                concurrency: config.worker_concurrency,
                ..WorkerSettings::default()
            };
            let worker = Worker::new(
                store.clone(),
                queues.clone(),
                gateway.state.requests.clone(),
                settings,
            );
            workers.spawn(worker.run(stopped()));
        }
        let ready = gateway.state.ready.clone();
        tokio::spawn(ingest(config.clone(), store.clone(), ready, stopped()));
        print_banner(addr);
    }

    let shutdown = airq_common::shutdown::shutdown_signal();
    gateway
        .run(listener, shutdown)
        .await
        .context("stopping the gateway")?;
    let _ = stop_tx.send(true);
    while workers.join_next().await.is_some() {}
    Ok(())
}

/// The master's part in standalone mode: the bundled sample (or `--source`, on `--every`), marking the gateway
/// ready once the first run has finished, whatever its outcome (the error is logged; the data there is served).
async fn ingest(
    config: GatewayConfig,
    store: Arc<dyn ReadingStore>,
    ready: Arc<AtomicBool>,
    stop: impl Future<Output = ()>,
) {
    let mark_ready = |outcome: &Result<IngestSummary, IngestError>| {
        match outcome {
            Ok(summary) => {
                tracing::info!(source = %summary.source, records = summary.records_seen,
                    readings = summary.readings_written, skipped = summary.skipped_total, "ingest done")
            }
            Err(e) => tracing::error!(error = %e, "ingest failed"),
        }
        ready.store(true, Ordering::Release);
    };
    let Some(source) = config.source.clone() else {
        let ingest = Ingest {
            store,
            format: None,
            country: String::new(),
            batch: 5000,
            http: match airq_master::http::client(Duration::from_secs(120)) {
                Ok(c) => c,
                Err(e) => return mark_ready(&Err(e)),
            },
        };
        let (_tx, never) = watch::channel(false);
        let outcome = ingest
            .run_bytes(
                "bundled sample (Sensor.Community, 2019-04-16)",
                SAMPLE_FEED,
                Format::Feed,
                &never,
            )
            .await;
        return mark_ready(&outcome);
    };
    let args = IngestArgs {
        source,
        format: None,
        store: config.store.clone(),
        every: config.every,
        country: String::new(),
        batch: 5000,
        http_timeout: Duration::from_secs(120),
        json: false,
    };
    if let Err(e) = airq_master::run(&args, stop, mark_ready).await {
        tracing::error!(error = %e, "ingest stopped");
        ready.store(true, Ordering::Release);
    }
}

fn print_banner(addr: std::net::SocketAddr) {
    let base = format!("http://{addr}");
    println!(
        "\nairq is running at {base}  (Ctrl-C stops it)\n\n\
         Try:\n  \
         curl '{base}/readyz'\n  \
         curl '{base}/api/query?start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z&country=DE'\n  \
         curl -X POST '{base}/api/query' -H 'Content-Type: application/json' \\\n       \
         -d '{{\"startDate\": \"2019-04-16 14:00:00\", \"endDate\": \"2019-04-16 15:00:00\", \"range\": \"Low\", \"minAqi\": 0, \"maxAqi\": 10}}'\n  \
         curl -i -H 'Prefer: respond-async' '{base}/api/query?start=2019-04-16&end=2019-04-17'   # 202 + Location\n  \
         curl '{base}/results/<id>?wait=10s'\n"
    );
}

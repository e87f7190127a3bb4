//! The one assembly of a running airq: backends, a gateway on a listener, N workers and optional ingest, with
//! one stop token and a task tracker. The `airq-gateway` binary (alone or `--standalone`), the tests and the
//! benchmarks all start airq through [`SystemBuilder`], so there is one way the parts are wired and stopped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airq_common::backends::{BackendUrls, Backends};
use airq_common::results::ResultOptions;
use airq_common::shutdown::{CancellationToken, TaskTracker};
use airq_common::store::Creation;
use airq_master::config::IngestArgs;
use airq_master::ingest::Ingest;
use airq_master::source::Format;
use airq_master::summary::IngestSummary;
use airq_master::IngestError;
use airq_worker::{Settings as WorkerSettings, Worker};
use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::{Gateway, GatewayOptions};

/// The bundled real Sensor.Community snapshot (credit: Sensor.Community, ODbL), compiled in so that standalone
/// mode works from any directory.
pub const SAMPLE_FEED: &[u8] = include_bytes!("../../data/feed/sensor-community-2019-04-16.json");

/// What the system ingests, in-process, before it reports ready.
#[derive(Debug, Clone)]
pub enum IngestPlan {
    /// The bundled sample, once.
    Sample,
    /// A file, folder or URL, once or every interval.
    Source {
        source: String,
        every: Option<Duration>,
    },
}

/// How to build a system. Every part is optional but the gateway.
pub struct SystemBuilder {
    urls: BackendUrls,
    backends: Option<Backends>,
    results: ResultOptions,
    gateway: GatewayOptions,
    listen: SocketAddr,
    listener: Option<TcpListener>,
    workers: usize,
    worker: WorkerSettings,
    ingest: Option<IngestPlan>,
    creation: Creation,
}

impl SystemBuilder {
    /// A gateway on `127.0.0.1:0` over the backends at `urls`, no workers, no ingest.
    pub fn new(urls: BackendUrls) -> Self {
        SystemBuilder {
            urls,
            backends: None,
            results: ResultOptions::default(),
            gateway: GatewayOptions::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            listener: None,
            workers: 0,
            worker: WorkerSettings::default(),
            ingest: None,
            creation: Creation::IfMissing,
        }
    }

    /// Uses backends the caller opened (and may inspect) instead of opening them from the URLs.
    pub fn backends(mut self, backends: Backends) -> Self {
        self.backends = Some(backends);
        self
    }

    pub fn result_options(mut self, options: ResultOptions) -> Self {
        self.results = options;
        self
    }

    pub fn gateway(mut self, options: GatewayOptions) -> Self {
        self.gateway = options;
        self
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Serves on a listener the caller has bound already.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    pub fn workers(mut self, count: usize, settings: WorkerSettings) -> Self {
        self.workers = count;
        self.worker = settings;
        self
    }

    pub fn ingest(mut self, plan: IngestPlan) -> Self {
        self.ingest = Some(plan);
        self
    }

    /// Whether a missing SQLite store may be created: yes for a first run (`--standalone`, tests), no for a
    /// gateway that serves a store someone else made (see [`Creation`]).
    pub fn store_creation(mut self, creation: Creation) -> Self {
        self.creation = creation;
        self
    }

    /// Opens what is missing, starts every part, and returns once the gateway is accepting connections.
    pub async fn start(self) -> anyhow::Result<System> {
        let backends = match self.backends {
            Some(b) => b,
            None => {
                airq_common::store::check_exists(&self.urls.store, self.creation)?;
                Backends::open(&self.urls, self.results)
                    .await
                    .context("opening the backends")?
            }
        };
        let gateway_metrics_listen = self.gateway.metrics_listen;
        let gateway = Gateway::start(&backends, self.gateway)
            .await
            .context("creating the gateway's queues")?;
        let listener = match self.listener {
            Some(l) => l,
            None => TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("binding {}", self.listen))?,
        };
        let addr = listener.local_addr().context("reading the bound address")?;
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let reply_to = gateway.state.reply_to.clone();
        let ready = gateway.state.ready.clone();
        for _ in 0..self.workers {
            let worker = Worker::new(
                &backends,
                gateway.state.requests.clone(),
                self.worker.clone(),
            )
            .with_answers(gateway.state.answers.clone());
            tasks.spawn(worker.run(stop.child_token()));
        }
        if let Some(plan) = self.ingest {
            ready.store(false, Ordering::Release);
            tasks.spawn(ingest(
                plan,
                backends.clone(),
                self.urls.store.clone(),
                ready.clone(),
                stop.child_token(),
            ));
        }
        let metrics_addr = match gateway_metrics_listen {
            Some(at) => {
                let listener = TcpListener::bind(at)
                    .await
                    .with_context(|| format!("binding the metrics listener {at}"))?;
                let bound = listener
                    .local_addr()
                    .context("reading the metrics address")?;
                tasks.spawn({
                    let stop = stop.child_token();
                    async move {
                        if let Err(e) = airq_common::metrics::serve(listener, stop).await {
                            tracing::error!(error = %e, "metrics listener failed");
                        }
                    }
                });
                Some(bound)
            }
            None => None,
        };
        let served = tokio::spawn(gateway.run(listener, stop.child_token()));
        tasks.close();
        Ok(System {
            addr,
            metrics_addr,
            backends,
            reply_to,
            ready,
            stop,
            tasks,
            gateway: served,
        })
    }
}

/// A running system.
pub struct System {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when it has a listener of its own (`--metrics-listen`).
    pub metrics_addr: Option<SocketAddr>,
    pub backends: Backends,
    /// The gateway's reply queue.
    pub reply_to: String,
    /// Whether the first ingest (if any) has finished.
    pub ready: Arc<AtomicBool>,
    stop: CancellationToken,
    tasks: TaskTracker,
    gateway: tokio::task::JoinHandle<Result<(), airq_common::queue::QueueError>>,
}

impl System {
    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token that stops everything; cancel it (or call [`shutdown`](Self::shutdown)) to stop.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops: the gateway stops accepting and drains, workers finish the jobs in hand, ingest finishes its
    /// batch; returns when all have.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.stopped().await
    }

    /// Waits until the stop token is cancelled (by a signal, say) and everything has stopped.
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.stop.cancelled().await;
        let served = self.gateway.await.context("the gateway task failed")?;
        self.tasks.wait().await;
        served.context("stopping the gateway")
    }
}

/// The master's part: ingest per `plan` on the shared store, marking the system ready once the first run has
/// finished, whatever its outcome (the error is logged; the data there is served).
async fn ingest(
    plan: IngestPlan,
    backends: Backends,
    store_url: String,
    ready: Arc<AtomicBool>,
    stop: CancellationToken,
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
    let batch = airq_common::defaults::INGEST_BATCH;
    let http_timeout = Duration::from_secs(120);
    match plan {
        IngestPlan::Sample => {
            let http = match airq_master::http::client(http_timeout) {
                Ok(c) => c,
                Err(e) => return mark_ready(&Err(e)),
            };
            let ingest = Ingest {
                store: backends.store.clone(),
                format: None,
                country: String::new(),
                batch,
                http,
            };
            let outcome = ingest
                .run_bytes(
                    "bundled sample (Sensor.Community, 2019-04-16)",
                    SAMPLE_FEED,
                    Format::Feed,
                    &stop,
                )
                .await;
            airq_master::schedule::after_run(backends.store.as_ref(), &outcome).await;
            mark_ready(&outcome);
        }
        IngestPlan::Source { source, every } => {
            let args = IngestArgs {
                source,
                format: None,
                store: store_url,
                every,
                country: String::new(),
                batch,
                http_timeout,
                json: false,
                // The store is the system's own, opened (and created, on a first run) at start.
                create: false,
                metrics_listen: None,
            };
            if let Err(e) = airq_master::run_on(backends.store, &args, stop, mark_ready).await {
                tracing::error!(error = %e, "ingest stopped");
                ready.store(true, Ordering::Release);
            }
        }
    }
}

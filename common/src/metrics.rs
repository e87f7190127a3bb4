//! Prometheus metrics for every role: one recorder per process, its names in one place, and `/metrics`.
//!
//! The `metrics` facade is what the code calls (`counter!`, `gauge!`, `histogram!`); the Prometheus exporter
//! renders it, without the exporter's own HTTP server: the gateway serves `/metrics` on its router, and the
//! worker and the master serve it on `--metrics-listen` through [`serve`], so that tests bind port 0 and the
//! stop signal is the process's own. Process metrics (`process_resident_memory_bytes`, CPU, descriptors) come
//! from `metrics-process`, collected at each scrape.
//!
//! Names follow Prometheus conventions: an `airq_` prefix, base units (`_seconds`, `_bytes`), counters ending in
//! `_total`. Every name is a constant below and described once in [`describe`]; docs/operations.md lists them.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::shutdown::CancellationToken;

// Gateway: HTTP.
pub const HTTP_REQUESTS: &str = "airq_http_requests_total";
pub const HTTP_DURATION: &str = "airq_http_request_duration_seconds";
pub const DIRECT_IN_FLIGHT: &str = "airq_direct_in_flight";
pub const DIRECT_LIMIT: &str = "airq_direct_limit";
// Gateway: queued jobs.
pub const JOBS_SUBMITTED: &str = "airq_jobs_submitted_total";
pub const JOBS_REFUSED: &str = "airq_jobs_refused_total";
pub const JOBS_TIMED_OUT: &str = "airq_jobs_timed_out_total";
pub const RESULTS_EXPIRED: &str = "airq_results_expired_total";
pub const RESULTS_EVICTED: &str = "airq_results_evicted_total";
pub const RESULT_STORE_BYTES: &str = "airq_result_store_bytes";
pub const RESULT_STORE_ANSWERS: &str = "airq_result_store_answers";
pub const QUEUE_DEPTH: &str = "airq_queue_depth";
pub const QUEUE_OLDEST_AGE: &str = "airq_queue_oldest_job_age_seconds";
// Worker.
pub const WORKER_IN_PROGRESS: &str = "airq_worker_jobs_in_progress";
pub const WORKER_JOBS: &str = "airq_worker_jobs_total";
pub const WORKER_JOB_DURATION: &str = "airq_worker_job_duration_seconds";
pub const WORKER_JOB_WAIT: &str = "airq_worker_job_wait_seconds";
pub const WORKER_RECEIVE_ERRORS: &str = "airq_worker_receive_errors_total";
// Master.
pub const INGEST_RUNS: &str = "airq_ingest_runs_total";
pub const INGEST_WRITTEN: &str = "airq_ingest_readings_written_total";
pub const INGEST_SKIPPED: &str = "airq_ingest_records_skipped_total";
pub const INGEST_DAMAGE: &str = "airq_ingest_damage_total";
pub const INGEST_LAST_SUCCESS: &str = "airq_ingest_last_success_timestamp_seconds";
pub const INGEST_DURATION: &str = "airq_ingest_run_duration_seconds";
// Store (every role that reads it).
pub const STORE_QUERY_DURATION: &str = "airq_store_query_duration_seconds";
pub const STORE_ROWS_READ: &str = "airq_store_rows_read_total";
pub const STORE_ERRORS: &str = "airq_store_errors_total";
pub const ANSWER_CACHE: &str = "airq_answer_cache_lookups_total";
pub const ANSWER_CACHE_BYTES: &str = "airq_answer_cache_bytes";
pub const NOT_MODIFIED: &str = "airq_http_not_modified_total";
// Build.
pub const BUILD_INFO: &str = "airq_build_info";

/// Latency buckets (seconds): 1 ms .. 60 s, for requests, jobs and store queries alike.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Ingest runs take seconds to minutes.
const INGEST_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

struct Installed {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

static INSTALLED: OnceLock<Option<Installed>> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle). `None` when another recorder
/// was installed first, which only a test harness would do: metrics are then simply not rendered.
pub fn install(role: &'static str) -> Option<&'static PrometheusHandle> {
    INSTALLED
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(INGEST_DURATION.into()), INGEST_BUCKETS)
                });
            let handle = match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                    return None;
                }
            };
            let process = metrics_process::Collector::default();
            process.describe();
            describe();
            metrics::gauge!(BUILD_INFO, "role" => role, "version" => env!("CARGO_PKG_VERSION"))
                .set(1.0);
            Some(Installed { handle, process })
        })
        .as_ref()
        .map(|i| &i.handle)
}

/// The text exposition of every metric (process metrics collected now).
pub fn render() -> String {
    match INSTALLED.get().and_then(Option::as_ref) {
        Some(installed) => {
            installed.process.collect();
            installed.handle.render()
        }
        None => String::new(),
    }
}

/// Drains histogram buffers; the exporter wants this run periodically when it serves no HTTP itself.
pub async fn upkeep(stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Some(installed) = INSTALLED.get().and_then(Option::as_ref) {
                    installed.handle.run_upkeep();
                }
            }
        }
    }
}

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` as an axum handler.
pub async fn handler() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], render())
}

/// Serves `/metrics` (and `/healthz`) on `listener` until `stop`: the worker's and the master's
/// `--metrics-listen`, and the gateway's when it is given one (a port an operator can open to the scraper
/// only).
pub async fn serve(listener: TcpListener, stop: CancellationToken) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(handler))
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening");
    }
    tokio::spawn(upkeep(stop.clone()));
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// Binds `addr` and serves metrics there in the background; returns the bound address.
pub async fn spawn_listener(
    addr: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve(listener, stop).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    Ok(bound)
}

/// One description per name: HELP lines, and units where Prometheus has one.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by route pattern, method, status and answer path (direct, queued, none).");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to the response's head, by route and answer path (a streamed body's transfer is not included).");
    describe_gauge!(DIRECT_IN_FLIGHT, "Direct answers being streamed now.");
    describe_gauge!(
        DIRECT_LIMIT,
        "Direct answers allowed at once (--direct-limit); beyond it queries are queued."
    );
    describe_counter!(JOBS_SUBMITTED, "Queries this gateway queued.");
    describe_counter!(
        ANSWER_CACHE,
        "Answer cache lookups, by outcome (hit, miss)."
    );
    describe_gauge!(
        ANSWER_CACHE_BYTES,
        Unit::Bytes,
        "Bytes of answers held by the answer cache."
    );
    describe_counter!(
        NOT_MODIFIED,
        "Conditional requests answered 304 Not Modified (If-None-Match matched)."
    );
    describe_counter!(
        JOBS_REFUSED,
        "Queries refused instead of queued, by reason (rate, pending, queue_full)."
    );
    describe_counter!(JOBS_TIMED_OUT, "Queued jobs that reached their deadline without an answer (seen by this gateway's sweeps).");
    describe_counter!(
        RESULTS_EXPIRED,
        "Answers removed at the end of their time to live (this gateway's sweeps)."
    );
    describe_counter!(
        RESULTS_EVICTED,
        "Answers evicted to keep the result store within its budget (this gateway's sweeps)."
    );
    describe_gauge!(
        RESULT_STORE_BYTES,
        Unit::Bytes,
        "Compressed bytes of stored answers."
    );
    describe_gauge!(RESULT_STORE_ANSWERS, "Answers stored.");
    describe_gauge!(QUEUE_DEPTH, "Messages in the request queue, by queue (requests, dead_letter) and state (visible, in_flight).");
    describe_gauge!(QUEUE_OLDEST_AGE, Unit::Seconds, "Age of the oldest job waiting in the request queue (embedded queue; on SQS use CloudWatch's ApproximateAgeOfOldestMessage).");
    describe_gauge!(WORKER_IN_PROGRESS, "Jobs this worker is answering now.");
    describe_counter!(WORKER_JOBS, "Jobs this worker ended, by outcome (answered, failed_invalid, failed_too_large, failed_internal, expired, retried).");
    describe_histogram!(
        WORKER_JOB_DURATION,
        Unit::Seconds,
        "Time from taking a job to recording its outcome."
    );
    describe_histogram!(
        WORKER_JOB_WAIT,
        Unit::Seconds,
        "Time a job waited in the queue, from its submission to a worker taking it."
    );
    describe_counter!(
        WORKER_RECEIVE_ERRORS,
        "Failed receives from the request queue."
    );
    describe_counter!(
        INGEST_RUNS,
        "Ingest runs, by outcome (complete, damaged, failed)."
    );
    describe_counter!(INGEST_WRITTEN, "Readings written to the store by ingest.");
    describe_counter!(INGEST_SKIPPED, "Records skipped by ingest, by reason.");
    describe_counter!(
        INGEST_DAMAGE,
        "Damage found in ingest sources (cut files, garbage, short bodies), by kind."
    );
    describe_gauge!(
        INGEST_LAST_SUCCESS,
        Unit::Seconds,
        "Unix time of the last ingest run that completed without damage."
    );
    describe_histogram!(INGEST_DURATION, Unit::Seconds, "Duration of ingest runs.");
    describe_histogram!(
        STORE_QUERY_DURATION,
        Unit::Seconds,
        "Time to read a whole query's answer from the reading store, by backend."
    );
    describe_counter!(
        STORE_ROWS_READ,
        "Readings read from the reading store by queries, by backend."
    );
    describe_counter!(STORE_ERRORS, "Reading-store query errors, by backend.");
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the role and version of this process as labels."
    );
}

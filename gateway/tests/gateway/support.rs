//! Starting a whole system in-process for a test through the one system builder: embedded backends in a fresh
//! file, the gateway on 127.0.0.1:0, workers.

use std::time::Duration;

use airq_common::backends::{BackendUrls, Backends};
use airq_common::feed::FeedReader;
use airq_common::results::ResultOptions;
use airq_common::Reading;
use airq_gateway::{GatewayOptions, SystemBuilder};
use airq_worker::Settings;

pub const SAMPLE: &[u8] = include_bytes!("../../../data/feed/sensor-community-2019-04-16.json");

pub fn sample_readings() -> Vec<Reading> {
    FeedReader::new(SAMPLE).collect()
}

#[allow(dead_code)] // `backends` and `db` are for tests that inspect the backends directly.
pub struct System {
    pub base: String,
    pub client: reqwest::Client,
    pub backends: Backends,
    pub reply_to: String,
    pub db: String,
    system: airq_gateway::System,
    _dir: Option<tempfile::TempDir>,
}

pub async fn start(options: GatewayOptions, workers: usize, readings: &[Reading]) -> System {
    start_with(
        options,
        workers,
        readings,
        Settings::default(),
        ResultOptions::default(),
    )
    .await
}

pub async fn start_with(
    options: GatewayOptions,
    workers: usize,
    readings: &[Reading],
    settings: Settings,
    results: ResultOptions,
) -> System {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir
        .path()
        .join("airq.db")
        .to_str()
        .expect("utf8")
        .to_string();
    let mut sys = on_file(&db, options, workers, settings, results).await;
    sys.backends.store.upsert(readings).await.expect("upsert");
    sys._dir = Some(dir);
    sys
}

/// A system (gateway and `workers` workers) on an existing file: another gateway of the same deployment.
pub async fn on_file(
    db: &str,
    options: GatewayOptions,
    workers: usize,
    settings: Settings,
    results: ResultOptions,
) -> System {
    let system = SystemBuilder::new(BackendUrls::embedded(db))
        .result_options(results)
        .gateway(options)
        .workers(workers, settings)
        .start()
        .await
        .expect("system");
    System {
        base: system.base_url(),
        client: reqwest::Client::new(),
        backends: system.backends.clone(),
        reply_to: system.reply_to.clone(),
        db: db.to_string(),
        system,
        _dir: None,
    }
}

#[allow(dead_code)]
impl System {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Another gateway on the same backends (no workers).
    pub async fn another_gateway(&self, options: GatewayOptions) -> System {
        on_file(
            &self.db,
            options,
            0,
            Settings::default(),
            ResultOptions::default(),
        )
        .await
    }

    /// Marks the system ready or not, as its first ingest would.
    pub fn set_ready(&self, ready: bool) {
        self.system
            .ready
            .store(ready, std::sync::atomic::Ordering::Release);
    }

    /// Stops the gateway and workers the way SIGTERM would, and waits for them.
    pub async fn stop(self) {
        tokio::time::timeout(Duration::from_secs(30), self.system.shutdown())
            .await
            .expect("stops within 30 s")
            .expect("clean stop");
    }

    /// Polls `/results/<id>?wait=` until it is no longer 202; returns the final response.
    pub async fn result(&self, id: &str) -> reqwest::Response {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self
                .client
                .get(self.url(&format!("/results/{id}?wait=5s")))
                .send()
                .await
                .expect("poll");
            if r.status() != 202 {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} not done in 60 s"
            );
        }
    }

    /// Submits a query on the queued path and returns its id.
    pub async fn submit_async(&self, params: &str) -> String {
        self.submit_async_to("/api/query", params).await
    }

    /// Submits a question (`/api/query`, `/api/latest`, `/api/aggregate`) on the queued path; returns its id.
    pub async fn submit_async_to(&self, path: &str, params: &str) -> String {
        let r = self
            .client
            .get(self.url(&format!("{path}?{params}")))
            .header("Prefer", "respond-async")
            .send()
            .await
            .expect("submit");
        assert_eq!(r.status(), 202);
        let location = r
            .headers()
            .get("location")
            .expect("Location")
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(r.headers().contains_key("retry-after"));
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["status"], "queued");
        let id = body["id"].as_str().expect("id").to_string();
        assert_eq!(location, format!("/results/{id}"));
        id
    }
}

/// Polls until `done` holds or 60 s pass.
#[allow(dead_code)]
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

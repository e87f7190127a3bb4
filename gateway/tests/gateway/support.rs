//! Starting a whole system in-process for a test: store, queues, gateway on 127.0.0.1:0, workers.

use std::sync::Arc;
use std::time::Duration;

use airq_common::feed::FeedReader;
use airq_common::queue::sqlite::SqliteQueues;
use airq_common::queue::QueueService;
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::Reading;
use airq_gateway::{Gateway, GatewayOptions};
use airq_worker::{Settings, Worker};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const SAMPLE: &[u8] = include_bytes!("../../../data/feed/sensor-community-2019-04-16.json");

pub fn sample_readings() -> Vec<Reading> {
    FeedReader::new(SAMPLE).collect()
}

#[allow(dead_code)] // `store` and `db` are for tests that inspect the backends directly.
pub struct System {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn ReadingStore>,
    pub queues: Arc<dyn QueueService>,
    pub reply_to: String,
    pub db: String,
    stop: watch::Sender<bool>,
    gateway: Option<tokio::task::JoinHandle<()>>,
    workers: tokio::task::JoinSet<()>,
    _dir: tempfile::TempDir,
}

pub async fn start(options: GatewayOptions, workers: usize, readings: &[Reading]) -> System {
    start_with(options, workers, readings, Settings::default()).await
}

pub async fn start_with(
    options: GatewayOptions,
    workers: usize,
    readings: &[Reading],
    settings: Settings,
) -> System {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir
        .path()
        .join("airq.db")
        .to_str()
        .expect("utf8")
        .to_string();
    let store: Arc<dyn ReadingStore> = Arc::new(SqliteStore::open(&db).expect("store"));
    store.upsert(readings).await.expect("upsert");
    let queues: Arc<dyn QueueService> = Arc::new(SqliteQueues::open(&db).expect("queues"));
    let gateway = Gateway::start(store.clone(), queues.clone(), "requests", options)
        .await
        .expect("gateway");
    let reply_to = gateway.state.reply_to.clone();
    let (stop, stopped) = watch::channel(false);
    let wait_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut worker_set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let worker = Worker::new(
            store.clone(),
            queues.clone(),
            gateway.state.requests.clone(),
            settings.clone(),
        );
        worker_set.spawn(worker.run(wait_stop(stopped.clone())));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = wait_stop(stopped);
    let handle = tokio::spawn(async move {
        gateway.run(listener, shutdown).await.expect("gateway run");
    });
    System {
        base,
        client: reqwest::Client::new(),
        store,
        queues,
        reply_to,
        db,
        stop,
        gateway: Some(handle),
        workers: worker_set,
        _dir: dir,
    }
}

impl System {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the gateway and workers the way SIGTERM would, and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(g) = self.gateway.take() {
            tokio::time::timeout(Duration::from_secs(30), g)
                .await
                .expect("gateway stops")
                .expect("join");
        }
        while self.workers.join_next().await.is_some() {}
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
        let r = self
            .client
            .get(self.url(&format!("/api/query?{params}")))
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

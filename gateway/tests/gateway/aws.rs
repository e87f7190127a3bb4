//! The same system in-process on the AWS backends (DynamoDB + SQS + the DynamoDB/S3 result store) against the
//! local emulator: answers, a large answer, poison messages. Several gateways and killed processes on AWS are in
//! `durable`.

use std::sync::Arc;
use std::time::Duration;

use airq_common::backends::Backends;
use airq_common::queue::sqs::SqsQueues;
use airq_common::queue::{QueueOptions, QueueService};
use airq_common::results::aws::AwsResults;
use airq_common::results::{ResultOptions, ResultStore};
use airq_common::shutdown::CancellationToken;
use airq_common::store::dynamodb::{DynamoStore, WriteOptions};
use airq_common::store::ReadingStore;
use airq_common::testing::emulator::{unique_name, Emulator};
use airq_common::testing::fixtures::{readings, T0};
use airq_common::time::format_rfc3339;
use airq_common::Reading;
use airq_gateway::SystemBuilder;
use airq_worker::{Settings, Worker};

use crate::processes::{poll_result, submit};
use crate::support::sample_readings;

struct AwsSystem {
    base: String,
    client: reqwest::Client,
    system: airq_gateway::System,
}

async fn store_with(data: &[Reading]) -> (Arc<dyn ReadingStore>, String) {
    let config = Emulator::shared().sdk_config().await;
    let table = unique_name("gw");
    let store = DynamoStore::new(&config, &table, WriteOptions::default()).expect("store");
    store.ensure_table().await.expect("table");
    store.upsert(data).await.expect("upsert");
    (Arc::new(store), table)
}

/// The AWS result store (DynamoDB + S3) under fresh names.
async fn results() -> Arc<dyn ResultStore> {
    let config = Emulator::shared().sdk_config().await;
    let bucket = unique_name("airq-results").to_ascii_lowercase();
    let results = AwsResults::new(
        &config,
        &unique_name("results"),
        &bucket,
        ResultOptions::default(),
    );
    results.ensure().await.expect("results table and bucket");
    Arc::new(results)
}

/// Gateway and workers in-process on DynamoDB + SQS + DynamoDB/S3 results.
async fn start(data: &[Reading], workers: usize, settings: Settings) -> AwsSystem {
    let (store, _) = store_with(data).await;
    start_on(store, workers, settings).await
}

/// Gateway and workers in-process on the given store, SQS and the AWS result store.
async fn start_on(store: Arc<dyn ReadingStore>, workers: usize, settings: Settings) -> AwsSystem {
    let config = Emulator::shared().sdk_config().await;
    let backends = Backends {
        store,
        queues: Arc::new(SqsQueues::new(&config)),
        request_queue: unique_name("requests"),
        results: results().await,
    };
    let system = SystemBuilder::new(Default::default())
        .backends(backends)
        .workers(workers, settings)
        .start()
        .await
        .expect("system");
    AwsSystem {
        base: system.base_url(),
        client: reqwest::Client::new(),
        system,
    }
}

impl AwsSystem {
    async fn stop(self) {
        self.system.shutdown().await.expect("clean stop");
    }

    async fn direct(&self, params: &str) -> bytes::Bytes {
        let r = self
            .client
            .get(format!("{}/api/query?{params}", self.base))
            .send()
            .await
            .expect("direct");
        assert_eq!(r.status(), 200, "{params}");
        r.bytes().await.expect("body")
    }

    async fn queued(&self, params: &str) -> bytes::Bytes {
        let id = submit(&self.client, &self.base, params).await;
        let r = poll_result(&self.client, &self.base, &id).await;
        assert_eq!(r.status(), 200, "{params}");
        r.bytes().await.expect("body")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_queued_answers_are_identical_on_aws() {
    let sys = start(&sample_readings(), 2, Settings::default()).await;
    for params in [
        "start=2019-04-16&end=2019-04-17",
        "start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z&country=DE",
        "start=2019-04-16&end=2019-04-17&band=Low&min_aqi=2",
        "start=2020-01-01&end=2020-01-02",
    ] {
        let direct = sys.direct(params).await;
        assert_eq!(sys.queued(params).await, direct, "{params}");
    }
    let all = sys.direct("start=2019-04-16&end=2019-04-17").await;
    assert_eq!(
        all.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(),
        141
    );
    sys.stop().await;
}

/// The answer's parts travel through SQS; the store here is SQLite, because the emulator's DynamoDB walks the
/// whole table in Python for every request and takes minutes over the ~50,000 items a 5 MB answer needs. The
/// DynamoDB store's own paging of large answers is covered by its conformance suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5_mb_answer_goes_through_sqs_intact() {
    let mut data = readings(60_000, 2);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 10_000 + i as u64;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = airq_common::store::sqlite::SqliteStore::open(
        dir.path().join("airq.db").to_str().expect("utf8"),
    )
    .expect("store");
    sqlite.upsert(&data).await.expect("upsert");
    let sys = start_on(Arc::new(sqlite), 1, Settings::default()).await;
    let params = format!(
        "start={}&end={}",
        format_rfc3339(T0),
        format_rfc3339(T0 + 2 * 3600)
    );
    let direct = sys.direct(&params).await;
    assert!(direct.len() >= 5 << 20, "only {} bytes", direct.len());
    let queued = sys.queued(&params).await;
    assert!(
        queued == direct,
        "the queued answer differs ({} vs {} bytes)",
        queued.len(),
        direct.len()
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_ends_in_the_dead_letter_queue_on_sqs() {
    let config = Emulator::shared().sdk_config().await;
    let (store, _) = store_with(&[]).await;
    let queues: Arc<dyn QueueService> = Arc::new(SqsQueues::new(&config));
    let requests = queues
        .create(&unique_name("poison"), &QueueOptions { max_receives: 2 })
        .await
        .expect("queue");
    let settings = Settings {
        visibility: Duration::from_secs(1),
        wait: Duration::from_secs(1),
        ..Settings::default()
    };
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::from_parts(store, results().await, queues, requests.clone(), settings)
            .run(stop.clone()),
    );
    requests
        .send(&["this is not a job".to_string()])
        .await
        .expect("send");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let depth = requests.depth().await.expect("depth");
        if depth.dead_lettered == Some(1) && depth.visible == 0 && depth.in_flight == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not dead-lettered: {depth:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.cancel();
    worker.await.expect("worker");
}

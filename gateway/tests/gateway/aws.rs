//! The same system on the AWS backends (DynamoDB + SQS) against the local emulator: answers, parts, poison
//! messages, two gateways with two workers, and a worker killed mid-job.

use std::sync::Arc;
use std::time::Duration;

use airq_common::queue::sqs::SqsQueues;
use airq_common::queue::{QueueOptions, QueueService};
use airq_common::store::dynamodb::{DynamoStore, WriteOptions};
use airq_common::store::ReadingStore;
use airq_common::testing::emulator::{unique_name, Emulator};
use airq_common::testing::fixtures::{readings, T0};
use airq_common::time::format_rfc3339;
use airq_common::Reading;
use airq_gateway::{Gateway, GatewayOptions};
use airq_worker::{Settings, Worker};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::processes::{catch_and_kill, gateway_on, poll_result, submit, worker_on};
use crate::support::sample_readings;

struct AwsSystem {
    base: String,
    client: reqwest::Client,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

async fn store_with(data: &[Reading]) -> (Arc<dyn ReadingStore>, String) {
    let config = Emulator::shared().sdk_config().await;
    let table = unique_name("gw");
    let store = DynamoStore::new(&config, &table, WriteOptions::default()).expect("store");
    store.ensure_table().await.expect("table");
    store.upsert(data).await.expect("upsert");
    (Arc::new(store), table)
}

/// Gateway and workers in-process on DynamoDB + SQS.
async fn start(data: &[Reading], workers: usize, settings: Settings) -> AwsSystem {
    let (store, _) = store_with(data).await;
    start_on(store, workers, settings).await
}

/// Gateway and workers in-process on the given store and SQS.
async fn start_on(store: Arc<dyn ReadingStore>, workers: usize, settings: Settings) -> AwsSystem {
    let config = Emulator::shared().sdk_config().await;
    let queues: Arc<dyn QueueService> = Arc::new(SqsQueues::new(&config));
    let gateway = Gateway::start(
        store.clone(),
        queues.clone(),
        &unique_name("requests"),
        GatewayOptions::default(),
    )
    .await
    .expect("gateway");
    let (stop, stopped) = watch::channel(false);
    let wait_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let w = Worker::new(
            store.clone(),
            queues.clone(),
            gateway.state.requests.clone(),
            settings.clone(),
        );
        tasks.spawn(w.run(wait_stop(stopped.clone())));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = wait_stop(stopped);
    tasks.spawn(async move { gateway.run(listener, shutdown).await.expect("run") });
    AwsSystem {
        base,
        client: reqwest::Client::new(),
        stop,
        tasks,
    }
}

impl AwsSystem {
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
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
    let (stop, mut stopped) = watch::channel(false);
    let worker = tokio::spawn(Worker::new(store, queues, requests.clone(), settings).run(
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
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
    let _ = stop.send(true);
    worker.await.expect("worker");
}

/// Two gateway processes and two worker processes on DynamoDB + SQS: every client gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_two_workers_on_aws() {
    let (_, table) = store_with(&sample_readings()).await;
    let store = format!("dynamodb://{table}");
    let queue = format!("sqs://{}", unique_name("shared"));
    let env = Emulator::shared().env();
    let (_g1, base1) = gateway_on(&store, &queue, &env, &[]);
    let (_g2, base2) = gateway_on(&store, &queue, &env, &[]);
    let _w1 = worker_on(&store, &queue, &env, &[]);
    let _w2 = worker_on(&store, &queue, &env, &[]);
    let client = reqwest::Client::new();
    let mut clients = Vec::new();
    for aqi in 1..=6 {
        let base = if aqi % 2 == 0 {
            base1.clone()
        } else {
            base2.clone()
        };
        let client = client.clone();
        clients.push(tokio::spawn(async move {
            let p = format!("start=2019-04-16&end=2019-04-17&min_aqi={aqi}&max_aqi={aqi}");
            let id = submit(&client, &base, &p).await;
            let r = poll_result(&client, &base, &id).await;
            assert_eq!(r.status(), 200);
            let queued = r.bytes().await.expect("body");
            let direct = client
                .get(format!("{base}/api/query?{p}"))
                .send()
                .await
                .expect("d")
                .bytes()
                .await
                .expect("b");
            assert_eq!(queued, direct, "{p}");
        }));
    }
    for c in clients {
        c.await.expect("client");
    }
}

/// A worker process killed mid-job on SQS: the job is redelivered after its visibility timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_on_aws_loses_nothing() {
    let mut data = readings(6000, 1);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 20_000 + i as u64;
    }
    let (_, table) = store_with(&data).await;
    let store = format!("dynamodb://{table}");
    let queue = format!("sqs://{}", unique_name("kill"));
    let env = Emulator::shared().env();
    let (_g, base) = gateway_on(&store, &queue, &env, &[]);
    let client = reqwest::Client::new();
    let params = format!(
        "start={}&end={}",
        format_rfc3339(T0),
        format_rfc3339(T0 + 3600)
    );
    let direct = client
        .get(format!("{base}/api/query?{params}"))
        .send()
        .await
        .expect("d")
        .bytes()
        .await
        .expect("b");
    let spawn = || {
        worker_on(
            &store,
            &queue,
            &env,
            &["--visibility", "2s", "--concurrency", "1"],
        )
    };
    let id = catch_and_kill(&client, &base, &params, &spawn).await;
    let _rescuer = worker_on(&store, &queue, &env, &["--visibility", "2s"]);
    let r = poll_result(&client, &base, &id).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.expect("body") == direct);
}

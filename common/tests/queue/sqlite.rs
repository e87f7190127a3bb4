//! The embedded SQLite queue: conformance, and several processes' worth of handles on one file.

use std::sync::Arc;
use std::time::Duration;

use airq_common::queue::sqlite::SqliteQueues;
use airq_common::queue::{QueueOptions, QueueService};

/// A fresh database file per test, in a directory that goes when the test ends.
async fn fresh() -> (Arc<dyn QueueService>, String) {
    let dir = crate::scratch::dir();
    let path = dir.join("airq.db");
    let service = SqliteQueues::open(path.to_str().expect("utf8")).expect("open");
    (Arc::new(service), "requests".to_string())
}

airq_common::queue_conformance_tests!(fresh());

/// Two services opened separately on one file (as two processes would) share the queue: a message sent by one
/// is received by the other, and each message goes to exactly one receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_handles_share_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("airq.db");
    let path = path.to_str().expect("utf8");
    let producer = SqliteQueues::open(path)
        .expect("open")
        .create("jobs", &QueueOptions::default())
        .await
        .expect("create");
    let consumers = [
        SqliteQueues::open(path)
            .expect("open")
            .open("jobs")
            .await
            .expect("open"),
        SqliteQueues::open(path)
            .expect("open")
            .open("jobs")
            .await
            .expect("open"),
    ];
    let bodies: Vec<String> = (0..40).map(|i| format!("job-{i}")).collect();
    producer.send(&bodies).await.expect("send");
    let mut tasks = Vec::new();
    for consumer in consumers {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = consumer
                    .receive(10, Duration::from_millis(300), Duration::from_secs(60))
                    .await
                    .expect("receive");
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|m| m.body));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("join"));
    }
    all.sort();
    let mut want = bodies;
    want.sort();
    assert_eq!(all, want, "each message exactly once");
}

/// The embedded queue stops waiting as soon as it is told to (a stopping worker exits at once), not when its
/// long poll would have ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_receive_returns_before_its_wait_ends() {
    let (service, name) = fresh().await;
    let queue = service
        .create(&name, &QueueOptions::default())
        .await
        .expect("create");
    let stop = airq_common::queue::CancellationToken::new();
    let wait = Duration::from_secs(30);
    let waiting = {
        let (queue, stop) = (queue.clone(), stop.clone());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let got = queue
                .receive_until(1, wait, Duration::from_secs(5), &stop)
                .await;
            (got, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    let (got, waited) = waiting.await.expect("join");
    assert!(got.expect("receive").is_empty());
    assert!(waited < wait / 2, "kept waiting for {waited:?}");
}

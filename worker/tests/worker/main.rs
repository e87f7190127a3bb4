//! The worker against the real embedded store, queue and result store: answers land in the result store
//! byte-identical to a direct encoding (in many parts when large), the asking gateway is told, invalid queries
//! and jobs nobody waits for end cleanly, and poison messages reach the dead-letter table.

use std::sync::Arc;
use std::time::Duration;

use airq_common::csv_out;
use airq_common::protocol::{now_ms, FailReason, Job, Notice};
use airq_common::query::QueryFields;
use airq_common::queue::sqlite::SqliteQueues;
use airq_common::queue::{JobQueue, QueueOptions, QueueService};
use airq_common::results::answer::csv_stream;
use airq_common::results::sqlite::SqliteResults;
use airq_common::results::{JobStatus, NewJob, ResultOptions, ResultStore};
use airq_common::shutdown::CancellationToken;
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::{collect, ReadingStore};
use airq_common::testing::fixtures::{readings, T0};
use airq_common::Query;
use airq_worker::{Settings, Worker};
use futures::TryStreamExt;
use uuid::Uuid;

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn ReadingStore>,
    results: Arc<dyn ResultStore>,
    requests: Arc<dyn JobQueue>,
    replies: Arc<dyn JobQueue>,
    stop: CancellationToken,
    worker: tokio::task::JoinHandle<()>,
}

async fn setup(settings: Settings, max_receives: u32, results: ResultOptions) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("airq.db");
    let path = path.to_str().expect("utf8");
    let store: Arc<dyn ReadingStore> = Arc::new(SqliteStore::open(path).expect("store"));
    store.upsert(&readings(3000, 12)).await.expect("upsert");
    let queues: Arc<dyn QueueService> = Arc::new(SqliteQueues::open(path).expect("queues"));
    let results: Arc<dyn ResultStore> =
        Arc::new(SqliteResults::open(path, results).expect("results"));
    let requests = queues
        .create("requests", &QueueOptions { max_receives })
        .await
        .expect("requests");
    let replies = queues
        .create("reply-gw1", &QueueOptions::default())
        .await
        .expect("replies");
    let stop = CancellationToken::new();
    let worker = Worker::from_parts(
        store.clone(),
        results.clone(),
        queues,
        requests.clone(),
        settings,
    );
    let worker = tokio::spawn(worker.run(stop.clone()));
    Setup {
        _dir: dir,
        store,
        results,
        requests,
        replies,
        stop,
        worker,
    }
}

/// A job as a gateway queues it: its record first, then the message.
async fn queue(s: &Setup, query: serde_json::Value) -> Uuid {
    let id = Uuid::new_v4();
    let now = now_ms();
    s.results
        .create(&NewJob {
            id,
            submitted_ms: now,
            deadline_ms: now + 60_000,
            ttl: Duration::from_secs(600),
            owner: None,
            format: Default::default(),
        })
        .await
        .expect("record");
    let job =
        serde_json::json!({"id": id, "query": query, "reply_to": "reply-gw1", "submitted_at": now});
    s.requests.send(&[job.to_string()]).await.expect("send");
    id
}

async fn queue_query(s: &Setup, query: &Query) -> Uuid {
    queue(s, serde_json::to_value(query).expect("json")).await
}

/// Waits for the notice that the job finished, then reads its outcome from the result store.
async fn await_outcome(s: &Setup, id: Uuid) -> JobStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut running_seen = false;
    while tokio::time::Instant::now() < deadline {
        for m in s
            .replies
            .receive(10, Duration::from_secs(1), Duration::from_secs(30))
            .await
            .expect("receive")
        {
            s.replies
                .delete(std::slice::from_ref(&m.receipt))
                .await
                .expect("delete");
            match serde_json::from_str::<Notice>(&m.body).expect("notice json") {
                Notice::Running { id: got } if got == id => running_seen = true,
                Notice::Finished { id: got } if got == id => {
                    let status = s.results.status(id).await.expect("status");
                    assert!(
                        running_seen || !matches!(status, JobStatus::Done(_)),
                        "an answered job was announced running first"
                    );
                    return status;
                }
                _ => {}
            }
        }
    }
    panic!("no notice within 30 s");
}

async fn answer_of(s: &Setup, id: Uuid, status: JobStatus) -> (Vec<u8>, u32) {
    let JobStatus::Done(answer) = status else {
        panic!("not answered: {status:?}")
    };
    let parts = answer.parts;
    let chunks: Vec<bytes::Bytes> = csv_stream(s.results.clone(), id, answer)
        .try_collect()
        .await
        .expect("read");
    (chunks.concat(), parts)
}

/// Waits (bounded) until the request queue is empty: a job is deleted just after its notice is sent.
async fn drained(s: &Setup) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let depth = s.requests.depth().await.expect("depth");
        if (depth.visible, depth.in_flight) == (0, 0) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs not deleted after answering: {depth:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stop(s: Setup) {
    s.stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), s.worker)
        .await
        .expect("worker stops")
        .expect("join");
}

fn window(hours: i64) -> Query {
    Query::window(T0, T0 + hours * 3600).expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_a_direct_encoding() {
    let s = setup(Settings::default(), 5, ResultOptions::default()).await;
    let de = QueryFields {
        country: Some("DE".into()),
        ..window(12).to_fields()
    }
    .validate()
    .expect("valid");
    for q in [window(3), de, window(0)] {
        let id = queue_query(&s, &q).await;
        let status = await_outcome(&s, id).await;
        let (answer, _) = answer_of(&s, id, status).await;
        let direct = csv_out::encode(&collect(s.store.query(&q, 1000)).await.expect("query"));
        assert_eq!(answer, direct, "{q:?}");
    }
    drained(&s).await;
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_is_streamed_in_parts() {
    let results = ResultOptions {
        part_bytes: 4 * 1024,
        ..ResultOptions::default()
    };
    let s = setup(Settings::default(), 5, results).await;
    let q = window(12);
    let id = queue_query(&s, &q).await;
    let status = await_outcome(&s, id).await;
    let (answer, parts) = answer_of(&s, id, status).await;
    let direct = csv_out::encode(&collect(s.store.query(&q, 1000)).await.expect("query"));
    assert!(parts > 10, "{parts} parts");
    assert_eq!(answer, direct);
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_budget_fails_as_too_large() {
    let results = ResultOptions {
        budget: 16 * 1024,
        part_bytes: 4 * 1024,
    };
    let s = setup(Settings::default(), 5, results).await;
    let id = queue_query(&s, &window(12)).await;
    match await_outcome(&s, id).await {
        JobStatus::Failed(f) => assert_eq!(f.reason, FailReason::TooLarge, "{f:?}"),
        other => panic!("{other:?}"),
    }
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_query_is_recorded_as_failed_and_the_job_deleted() {
    let s = setup(Settings::default(), 5, ResultOptions::default()).await;
    let inverted = serde_json::json!({"start": T0 + 10, "end": T0, "country": null, "band": null,
        "min_aqi": 0, "max_aqi": 10});
    let id = queue(&s, inverted).await;
    match await_outcome(&s, id).await {
        JobStatus::Failed(f) => assert_eq!(f.reason, FailReason::InvalidQuery, "{f:?}"),
        other => panic!("{other:?}"),
    }
    drained(&s).await;
    stop(s).await;
}

/// A job without a record (cancelled and forgotten, or never created by a gateway) is not run: its message is simply deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_a_record_is_not_run() {
    let s = setup(Settings::default(), 5, ResultOptions::default()).await;
    let stray = Job {
        id: Uuid::new_v4(),
        query: window(1),
        ask: Default::default(),
        reply_to: "reply-gw1".into(),
        submitted_at: 0,
    };
    // No record at all for this one.
    s.requests
        .send(&[serde_json::to_string(&stray).expect("json")])
        .await
        .expect("send");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let depth = s.requests.depth().await.expect("depth");
        if (depth.visible, depth.in_flight) == (0, 0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{depth:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        s.results.status(stray.id).await.expect("status"),
        JobStatus::Unknown,
        "nothing was recorded for a job nobody asked for"
    );
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_ends_in_the_dead_letter_table() {
    let settings = Settings {
        visibility: Duration::from_secs(1),
        wait: Duration::from_millis(500),
        ..Settings::default()
    };
    let s = setup(settings, 2, ResultOptions::default()).await;
    s.requests
        .send(&["{not a job".to_string()])
        .await
        .expect("send");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let depth = s.requests.depth().await.expect("depth");
        if depth.dead_lettered == Some(1) {
            assert_eq!((depth.visible, depth.in_flight), (0, 0));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not dead-lettered: {depth:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(s).await;
}

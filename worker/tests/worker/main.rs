//! The worker against the real embedded store and queue: answers arrive byte-identical to a direct encoding,
//! large answers come in parts, invalid jobs get an error reply, and poison messages reach the dead-letter table.

use std::sync::Arc;
use std::time::Duration;

use airq_common::csv_out;
use airq_common::job::{Assembler, Job, ReplyPart};
use airq_common::queue::sqlite::SqliteQueues;
use airq_common::queue::{JobQueue, QueueOptions, QueueService};
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::{collect, ReadingStore};
use airq_common::testing::fixtures::{readings, T0};
use airq_common::Query;
use airq_worker::{Settings, Worker};
use tokio::sync::oneshot;
use uuid::Uuid;

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn ReadingStore>,
    requests: Arc<dyn JobQueue>,
    replies: Arc<dyn JobQueue>,
    stop: Option<oneshot::Sender<()>>,
    worker: tokio::task::JoinHandle<()>,
}

async fn setup(settings: Settings, max_receives: u32) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("airq.db");
    let path = path.to_str().expect("utf8");
    let store: Arc<dyn ReadingStore> = Arc::new(SqliteStore::open(path).expect("store"));
    store.upsert(&readings(3000, 12)).await.expect("upsert");
    let queues: Arc<dyn QueueService> = Arc::new(SqliteQueues::open(path).expect("queues"));
    let requests = queues
        .create("requests", &QueueOptions { max_receives })
        .await
        .expect("requests");
    let replies = queues
        .create("reply-gw1", &QueueOptions::default())
        .await
        .expect("replies");
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(store.clone(), queues, requests.clone(), settings);
    let worker = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    Setup {
        _dir: dir,
        store,
        requests,
        replies,
        stop: Some(stop),
        worker,
    }
}

fn job(query: Query) -> Job {
    Job {
        id: Uuid::new_v4(),
        query,
        reply_to: "reply-gw1".into(),
        submitted_at: 0,
    }
}

fn window(hours: i64) -> Query {
    Query {
        start: T0,
        end: T0 + hours * 3600,
        country: None,
        band: None,
        min_aqi: 0,
        max_aqi: 10,
    }
}

/// Reads the reply queue until the job's answer is complete (or it failed); returns it and the parts seen.
async fn await_answer(
    replies: &Arc<dyn JobQueue>,
    id: Uuid,
) -> (Result<Vec<u8>, (u16, String)>, usize) {
    let mut asm = Assembler::default();
    let mut parts = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        for m in replies
            .receive(10, Duration::from_secs(1), Duration::from_secs(30))
            .await
            .expect("receive")
        {
            replies
                .delete(std::slice::from_ref(&m.receipt))
                .await
                .expect("delete");
            match serde_json::from_str::<ReplyPart>(&m.body).expect("reply json") {
                ReplyPart::Running { id: got } => assert_eq!(got, id),
                ReplyPart::Data {
                    id: got,
                    part,
                    parts: n,
                    data,
                } => {
                    assert_eq!(got, id);
                    parts += 1;
                    if let Some(csv) = asm.add(part, n, &data).expect("part") {
                        return (Ok(csv), parts);
                    }
                }
                ReplyPart::Failed {
                    http_status, error, ..
                } => return (Err((http_status, error)), parts),
            }
        }
    }
    panic!("no answer within 30 s");
}

async fn stop(mut s: Setup) {
    if let Some(tx) = s.stop.take() {
        let _ = tx.send(());
    }
    tokio::time::timeout(Duration::from_secs(30), s.worker)
        .await
        .expect("worker stops")
        .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_a_direct_encoding() {
    let s = setup(Settings::default(), 5).await;
    for q in [
        window(3),
        Query {
            country: Some("DE".into()),
            ..window(12)
        },
        window(0),
    ] {
        let j = job(q.clone());
        s.requests
            .send(&[serde_json::to_string(&j).expect("json")])
            .await
            .expect("send");
        let (answer, _) = await_answer(&s.replies, j.id).await;
        let direct = csv_out::encode(&collect(s.store.query(&q, 100)).await.expect("query"));
        assert_eq!(answer.expect("answer"), direct, "{q:?}");
    }
    let depth = s.requests.depth().await.expect("depth");
    assert_eq!(
        (depth.visible, depth.in_flight),
        (0, 0),
        "jobs deleted after answering"
    );
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_answer_comes_in_parts_that_fit_the_limit() {
    let settings = Settings {
        max_message_bytes: 8 * 1024,
        ..Settings::default()
    };
    let s = setup(settings, 5).await;
    let q = window(12);
    let j = job(q.clone());
    s.requests
        .send(&[serde_json::to_string(&j).expect("json")])
        .await
        .expect("send");
    let (answer, parts) = await_answer(&s.replies, j.id).await;
    let direct = csv_out::encode(&collect(s.store.query(&q, 1000)).await.expect("query"));
    assert!(parts > 1, "{parts} parts");
    assert_eq!(answer.expect("answer"), direct);
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_query_gets_an_error_reply_and_is_deleted() {
    let s = setup(Settings::default(), 5).await;
    let j = job(Query {
        start: T0 + 10,
        end: T0,
        ..window(1)
    });
    s.requests
        .send(&[serde_json::to_string(&j).expect("json")])
        .await
        .expect("send");
    let (answer, _) = await_answer(&s.replies, j.id).await;
    assert_eq!(answer.expect_err("failed").0, 400);
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_ends_in_the_dead_letter_table() {
    let settings = Settings {
        visibility: Duration::from_secs(1),
        wait: Duration::from_millis(500),
        ..Settings::default()
    };
    let s = setup(settings, 2).await;
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

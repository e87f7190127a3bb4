//! Queued results that any gateway serves and no gateway loses, as separate processes, on both backends (the
//! embedded file; DynamoDB + S3 results and SQS queues on the emulator):
//! - a job queued on gateway A is answered by gateway B, byte for byte, and expires (410) on both;
//! - SIGKILL of a gateway with 20+ jobs pending: every job is answered on another gateway and on the restarted
//!   one, and the dead gateway's reply queue is removed by the sweeper;
//! - a worker SIGKILLed mid-stream (parts already stored): the client still gets one complete, correct answer.

use std::sync::Arc;

use airq_common::queue::sqlite::SqliteQueues;
use airq_common::queue::sqs::SqsQueues;
use airq_common::queue::QueueService;
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::testing::emulator::{unique_name, Emulator};
use airq_common::testing::fixtures::{readings, T0};
use airq_common::time::format_rfc3339;
use airq_common::Reading;
use uuid::Uuid;

use crate::processes::{gateway_on, poll_result, submit, worker_binary, worker_on, Proc};
use crate::support::{eventually, sample_readings};

/// Which backends a scenario runs on.
#[derive(Clone, Copy)]
enum Kind {
    Embedded,
    Aws,
}

/// One deployment's backends, as URLs for processes, with what a test needs to look inside.
struct Deployment {
    kind: Kind,
    store: String,
    queue: String,
    results: String,
    env: Vec<(&'static str, String)>,
    db: String,
    bucket: String,
    /// This deployment's reply-queue prefix: the emulator is shared with other tests.
    prefix: String,
    _dir: tempfile::TempDir,
}

impl Deployment {
    /// Readings in a SQLite file (the emulator's DynamoDB is far too slow for answers of megabytes; its store
    /// is held by the store conformance suite); queues and results on the backend under test.
    async fn new(kind: Kind, data: &[Reading]) -> Deployment {
        // The worker binary first: a build (minutes, when a dependency must be rebuilt) must not run while
        // submitted jobs and the gateways' timers are already counting.
        worker_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir
            .path()
            .join("airq.db")
            .to_str()
            .expect("utf8")
            .to_string();
        SqliteStore::open(&db)
            .expect("store")
            .upsert(data)
            .await
            .expect("upsert");
        let sqlite = format!("sqlite://{db}");
        match kind {
            Kind::Embedded => Deployment {
                kind,
                store: sqlite.clone(),
                queue: sqlite.clone(),
                results: sqlite,
                env: Vec::new(),
                db,
                bucket: String::new(),
                prefix: unique_name("reply"),
                _dir: dir,
            },
            Kind::Aws => {
                let bucket = unique_name("airq-results").to_ascii_lowercase();
                Deployment {
                    kind,
                    store: sqlite,
                    queue: format!("sqs://{}", unique_name("requests")),
                    results: format!("dynamodb://{}?bucket={bucket}", unique_name("results")),
                    env: Emulator::shared().env(),
                    db,
                    bucket,
                    prefix: unique_name("reply"),
                    _dir: dir,
                }
            }
        }
    }

    fn gateway(&self, extra: &[&str]) -> (Proc, String) {
        let mut args = vec![
            "--results",
            self.results.as_str(),
            "--reply-queue-prefix",
            self.prefix.as_str(),
        ];
        args.extend_from_slice(extra);
        gateway_on(&self.store, &self.queue, &self.env, &args)
    }

    fn worker(&self, extra: &[&str]) -> Proc {
        let mut args = vec!["--results", self.results.as_str()];
        args.extend_from_slice(extra);
        worker_on(&self.store, &self.queue, &self.env, &args)
    }

    async fn queues(&self) -> Arc<dyn QueueService> {
        match self.kind {
            Kind::Embedded => Arc::new(SqliteQueues::open(&self.db).expect("queues")),
            Kind::Aws => Arc::new(SqsQueues::new(&Emulator::shared().sdk_config().await)),
        }
    }

    /// Names of the reply queues there are now.
    async fn reply_queues(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .queues()
            .await
            .list(&format!("{}-", self.prefix))
            .await
            .expect("list")
            .into_iter()
            .map(|q| q.name)
            .collect();
        names.sort();
        names
    }

    /// How many answer parts of job `id` are stored, whatever attempt wrote them.
    async fn parts_written(&self, id: &str) -> usize {
        match self.kind {
            Kind::Embedded => {
                let conn = rusqlite::Connection::open(&self.db).expect("open");
                conn.query_row(
                    "SELECT COUNT(*) FROM result_parts WHERE id = ?1",
                    [id],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n as usize)
                .unwrap_or(0)
            }
            Kind::Aws => {
                let config = Emulator::shared().sdk_config().await;
                let s3 = airq_common::aws::s3_client(&config);
                s3.list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(format!("results/{id}/"))
                    .send()
                    .await
                    .map(|o| o.contents().len())
                    .unwrap_or(0)
            }
        }
    }
}

/// Fast sweeps and heartbeats, so that expiry and orphaned queues are seen within a test's patience.
const QUICK: &[&str] = &[
    "--sweep-every",
    "300ms",
    "--reply-queue-heartbeat",
    "300ms",
    "--reply-queue-orphan-after",
    "3s",
];

async fn direct(client: &reqwest::Client, base: &str, params: &str) -> bytes::Bytes {
    let r = client
        .get(format!("{base}/api/query?{params}"))
        .send()
        .await
        .expect("direct");
    assert_eq!(r.status(), 200, "{params}");
    r.bytes().await.expect("body")
}

async fn status_of(client: &reqwest::Client, base: &str, id: &str) -> u16 {
    client
        .get(format!("{base}/results/{id}"))
        .send()
        .await
        .expect("get")
        .status()
        .as_u16()
}

/// Queries that give different answers on the sample, so that a mixed-up answer would show.
fn distinct_queries(n: usize) -> Vec<String> {
    let countries = ["", "&country=DE", "&country=NL", "&country=PL"];
    (0..n)
        .map(|i| {
            let aqi = i % 4 + 1;
            format!(
                "start=2019-04-16&end=2019-04-17&min_aqi=1&max_aqi={aqi}{}",
                countries[i / 4 % countries.len()]
            )
        })
        .collect()
}

async fn any_gateway_serves_any_job(kind: Kind) {
    let dep = Deployment::new(kind, &sample_readings()).await;
    let ttl = ["--result-ttl", "4s"];
    let (_a, base_a) = dep.gateway(&[QUICK, &ttl].concat());
    let (_b, base_b) = dep.gateway(&[QUICK, &ttl].concat());
    let _w = dep.worker(&[]);
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for params in distinct_queries(4) {
        let id = submit(&client, &base_a, &params).await;
        let on_b = poll_result(&client, &base_b, &id).await;
        assert_eq!(on_b.status(), 200);
        let on_b = on_b.bytes().await.expect("body");
        assert_eq!(on_b, direct(&client, &base_b, &params).await, "{params}");
        let on_a = poll_result(&client, &base_a, &id).await;
        assert_eq!(
            on_a.bytes().await.expect("body"),
            on_b,
            "the same bytes on both"
        );
        ids.push(id);
    }
    // A cancel on B is seen on A.
    let cancelled = submit(&client, &base_b, "start=2019-04-16&end=2019-04-17").await;
    let r = client
        .delete(format!("{base_a}/results/{cancelled}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    assert_eq!(status_of(&client, &base_b, &cancelled).await, 410);
    // Expiry reads the same on every gateway: once A says 410, so does B, for every id.
    for id in &ids {
        eventually("expiry", || async {
            status_of(&client, &base_a, id).await == 410
        })
        .await;
        assert_eq!(status_of(&client, &base_b, id).await, 410);
    }
    let never = Uuid::new_v4().to_string();
    assert_eq!(status_of(&client, &base_a, &never).await, 404);
    assert_eq!(status_of(&client, &base_b, &never).await, 404);
}

async fn a_killed_gateway_loses_no_job(kind: Kind) {
    let dep = Deployment::new(kind, &sample_readings()).await;
    let (a, base_a) = dep.gateway(QUICK);
    let queue_a = dep.reply_queues().await;
    assert_eq!(queue_a.len(), 1, "{queue_a:?}");
    let (_b, base_b) = dep.gateway(QUICK);
    let client = reqwest::Client::new();
    // No worker yet: every job is pending when A dies.
    let queries = distinct_queries(24);
    let mut jobs = Vec::new();
    for params in &queries {
        jobs.push((submit(&client, &base_a, params).await, params.clone()));
    }
    a.signal("KILL");
    drop(a);
    let _w1 = dep.worker(&[]);
    let _w2 = dep.worker(&[]);
    for (id, params) in &jobs {
        let r = poll_result(&client, &base_b, id).await;
        assert_eq!(r.status(), 200, "job {id} on B");
        assert_eq!(
            r.bytes().await.expect("body"),
            direct(&client, &base_b, params).await,
            "{params}"
        );
    }
    let (_a2, base_a2) = dep.gateway(QUICK);
    for (id, params) in &jobs {
        let r = poll_result(&client, &base_a2, id).await;
        assert_eq!(r.status(), 200, "job {id} on the restarted A");
        assert_eq!(
            r.bytes().await.expect("body"),
            direct(&client, &base_a2, params).await
        );
    }
    // The dead gateway's reply queue goes; the live ones stay.
    eventually("the orphaned reply queue removed", || async {
        !dep.reply_queues().await.contains(&queue_a[0])
    })
    .await;
    assert_eq!(
        dep.reply_queues().await.len(),
        2,
        "B's and the restarted A's"
    );
}

async fn a_worker_killed_mid_stream(kind: Kind) {
    let mut data = readings(60_000, 2);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 10_000 + i as u64;
    }
    let dep = Deployment::new(kind, &data).await;
    let (_g, base) = dep.gateway(&[]);
    let client = reqwest::Client::new();
    let params = format!(
        "start={}&end={}",
        format_rfc3339(T0),
        format_rfc3339(T0 + 2 * 3600)
    );
    let want = direct(&client, &base, &params).await;
    assert!(want.len() > 2 << 20, "a large answer: {} bytes", want.len());
    // Small parts, so that the answer is hundreds of parts and the worker is caught between them.
    let slow = [
        "--part-size",
        "4KiB",
        "--concurrency",
        "1",
        "--visibility",
        "2s",
    ];
    let mut caught = None;
    for _attempt in 0..5 {
        let victim = dep.worker(&slow);
        let id = submit(&client, &base, &params).await;
        eventually("the first parts stored", || async {
            dep.parts_written(&id).await > 0
        })
        .await;
        victim.signal("STOP");
        let still_pending = status_of(&client, &base, &id).await == 202;
        victim.signal("KILL");
        drop(victim);
        if still_pending {
            caught = Some(id);
            break;
        }
    }
    let id = caught.expect("a worker caught mid-stream in 5 tries");
    let _rescuer = dep.worker(&["--visibility", "2s"]);
    let r = poll_result(&client, &base, &id).await;
    assert_eq!(r.status(), 200);
    let got = r.bytes().await.expect("body");
    assert!(
        got == want,
        "one complete, correct answer ({} vs {} bytes)",
        got.len(),
        want.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_gateway_serves_any_job_embedded() {
    any_gateway_serves_any_job(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_gateway_serves_any_job_aws() {
    any_gateway_serves_any_job(Kind::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_loses_no_job_embedded() {
    a_killed_gateway_loses_no_job(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_loses_no_job_aws() {
    a_killed_gateway_loses_no_job(Kind::Aws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_stream_embedded() {
    a_worker_killed_mid_stream(Kind::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_stream_aws() {
    a_worker_killed_mid_stream(Kind::Aws).await;
}

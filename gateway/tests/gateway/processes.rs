//! Gateways and workers as separate processes sharing one embedded database file, as on one machine.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use airq_common::queue::sqlite::SqliteQueues;
use airq_common::queue::QueueService;
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::testing::fixtures::{readings, T0};
use airq_common::time::format_rfc3339;

use crate::support::sample_readings;

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.0.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

fn gateway(db: &str, extra: &[&str]) -> (Proc, String) {
    let url = format!("sqlite://{db}");
    gateway_on(&url, &url, &[], extra)
}

/// A gateway process on the given backends, with extra environment (the emulator's, for AWS URLs).
pub fn gateway_on(
    store: &str,
    queue: &str,
    envs: &[(&'static str, String)],
    extra: &[&str],
) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airq-gateway"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--store",
            store,
            "--queue",
            queue,
        ])
        .args(extra)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn gateway");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read address");
    let base = first
        .trim()
        .strip_prefix("airq-gateway listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    (Proc(child), base)
}

/// The `airq-worker` binary of this build (built at the first call: call it before anything timed starts).
pub fn worker_binary() -> std::path::PathBuf {
    airq_common::testing::process::workspace_binary(
        std::path::Path::new(env!("CARGO_BIN_EXE_airq-gateway")),
        "airq-worker",
        "airq-worker",
    )
}

fn worker(db: &str, extra: &[&str]) -> Proc {
    let url = format!("sqlite://{db}");
    worker_on(&url, &url, &[], extra)
}

pub fn worker_on(
    store: &str,
    queue: &str,
    envs: &[(&'static str, String)],
    extra: &[&str],
) -> Proc {
    let child = Command::new(worker_binary())
        .args(["--store", store, "--queue", queue])
        .args(extra)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker");
    Proc(child)
}

async fn seeded_db(dir: &tempfile::TempDir, data: &[airq_common::Reading]) -> String {
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
    db
}

pub async fn poll_result(client: &reqwest::Client, base: &str, id: &str) -> reqwest::Response {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let r = client
            .get(format!("{base}/results/{id}?wait=5s"))
            .send()
            .await
            .expect("poll");
        if r.status() != 202 {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "job {id} not done");
    }
}

pub async fn submit(client: &reqwest::Client, base: &str, params: &str) -> String {
    let r = client
        .get(format!("{base}/api/query?{params}"))
        .header("Prefer", "respond-async")
        .send()
        .await
        .expect("submit");
    assert_eq!(r.status(), 202);
    r.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// Submits `params` on the queued path and kills the worker while it holds the job: freezes it (SIGSTOP) as soon
/// as the gateway reports the job running, checks the job had not finished, then SIGKILLs it. A fast worker may
/// beat the freeze; then it tries again with a new worker and job. Returns the id of the orphaned job.
pub async fn catch_and_kill(
    client: &reqwest::Client,
    base: &str,
    params: &str,
    spawn: &dyn Fn() -> Proc,
) -> String {
    for _attempt in 0..5 {
        let victim = spawn();
        let id = submit(client, base, params).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            let r = client
                .get(format!("{base}/results/{id}"))
                .send()
                .await
                .expect("poll");
            let code = r.status().as_u16();
            let body = r.bytes().await.expect("body");
            if code != 202 || body.windows(7).any(|w| w == b"running") {
                break code;
            }
            assert!(tokio::time::Instant::now() < deadline, "job never started");
        };
        victim.signal("STOP");
        let still = client
            .get(format!("{base}/results/{id}"))
            .send()
            .await
            .expect("poll")
            .status();
        victim.signal("KILL");
        drop(victim);
        if status == 202 && still == 202 {
            return id;
        }
    }
    panic!("could not catch a worker mid-job in 5 tries");
}

/// Two gateways and two workers: every client, whichever gateway it used, gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_two_workers_every_client_gets_its_own_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_db(&dir, &sample_readings()).await;
    let (_g1, base1) = gateway(&db, &[]);
    let (_g2, base2) = gateway(&db, &[]);
    let _w1 = worker(&db, &[]);
    let _w2 = worker(&db, &[]);
    let client = reqwest::Client::new();
    // Distinct queries (one per index bound), so that a mixed-up answer would show.
    let params: Vec<String> = (1..=6)
        .map(|aqi| format!("start=2019-04-16&end=2019-04-17&min_aqi={aqi}&max_aqi={aqi}"))
        .chain([
            "start=2019-04-16&end=2019-04-17&country=DE".to_string(),
            "start=2019-04-16&end=2019-04-17&country=NL".into(),
        ])
        .collect();
    let mut clients = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let base = if i % 2 == 0 {
            base1.clone()
        } else {
            base2.clone()
        };
        let (client, p) = (client.clone(), p.clone());
        clients.push(tokio::spawn(async move {
            let id = submit(&client, &base, &p).await;
            let queued = poll_result(&client, &base, &id).await;
            assert_eq!(queued.status(), 200, "{p}");
            let queued = queued.bytes().await.expect("body");
            let direct = client
                .get(format!("{base}/api/query?{p}"))
                .send()
                .await
                .expect("direct")
                .bytes()
                .await
                .expect("body");
            assert_eq!(queued, direct, "{p}");
            queued.len()
        }));
    }
    let mut sizes = Vec::new();
    for c in clients {
        sizes.push(c.await.expect("client"));
    }
    sizes.sort();
    sizes.dedup();
    assert!(sizes.len() >= 4, "the queries should differ: {sizes:?}");
}

/// A worker killed in the middle of a job: the job is delivered again and the client still gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut data = readings(60_000, 2);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 10_000 + i as u64;
    }
    let db = seeded_db(&dir, &data).await;
    let (_g, base) = gateway(&db, &[]);
    let client = reqwest::Client::new();
    let params = format!(
        "start={}&end={}",
        format_rfc3339(T0),
        format_rfc3339(T0 + 2 * 3600)
    );
    let direct = client
        .get(format!("{base}/api/query?{params}"))
        .send()
        .await
        .expect("direct")
        .bytes()
        .await
        .expect("body");

    let id = catch_and_kill(&client, &base, &params, &|| {
        worker(&db, &["--visibility", "2s", "--concurrency", "1"])
    })
    .await;
    let _rescuer = worker(&db, &["--visibility", "2s"]);
    let answer = poll_result(&client, &base, &id).await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.bytes().await.expect("body") == direct,
        "the redelivered answer differs"
    );
}

/// SIGTERM: the gateway finishes, removes its reply queue and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_gateway_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_db(&dir, &sample_readings()).await;
    let (mut g, base) = gateway(&db, &[]);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
    let queues = SqliteQueues::open(&db).expect("queues");
    let count_replies = || rusqlite_count(&db);
    assert_eq!(count_replies(), 1, "one reply queue while running");
    g.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let status = g.0.wait().expect("wait");
        std::mem::forget(g);
        status
    })
    .await
    .expect("join");
    assert!(status.success(), "{status}");
    assert_eq!(count_replies(), 0, "reply queue removed");
    queues.check().await.expect("queue file still fine");
}

/// Reply queues in the file (their names start with `airq-reply-`).
fn rusqlite_count(db: &str) -> usize {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row(
        "SELECT COUNT(*) FROM queues WHERE name LIKE 'airq-reply-%'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .expect("count") as usize
}

/// Starts `airq-gateway --standalone` (bundled data, embedded store) in `dir`, as README command 1 does;
/// returns it, its base URL and the banner it printed (up to the last example), once it is ready. The rest of
/// its output is drained so it never blocks on a full pipe.
pub async fn standalone(dir: &tempfile::TempDir) -> (Proc, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airq-gateway"))
        .args(["--standalone", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let proc = Proc(child);
    let lines = tokio::task::spawn_blocking(move || {
        let mut banner = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("line");
            let last = line.contains("/results/<id>");
            banner.push(line);
            if last {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        banner
    })
    .await
    .expect("banner");
    let base = lines
        .first()
        .and_then(|l| l.strip_prefix("airq-gateway listening on "))
        .expect("the listening line first")
        .to_string();
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (proc, base, lines)
}

/// README command 1: `airq-gateway --standalone` from a fresh directory ingests the bundled sample, becomes
/// ready, and the curl examples it prints work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_runs_the_whole_system_and_its_examples_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (proc, base, lines) = standalone(&dir).await;
    let client = reqwest::Client::new();
    assert!(
        dir.path().join("data/airq.db").exists(),
        "the embedded store is created in ./data"
    );
    let examples: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("curl"))
        .collect();
    assert!(examples.len() >= 4, "{lines:?}");
    let mut answered = 0;
    for line in examples {
        let Some(url) = line.split('\'').find(|u| u.starts_with("http")) else {
            continue;
        };
        if url.contains("<id>") {
            continue;
        }
        let mut request = client.get(url);
        if line.contains("respond-async") {
            request = request.header("Prefer", "respond-async");
        }
        if line.contains("-X POST") {
            let body = line
                .split("-d '")
                .nth(1)
                .map(|b| b.trim_end_matches('\'').to_string());
            // The POST example's body is on the next line of the banner.
            let body = body.or_else(|| {
                lines
                    .iter()
                    .find(|l| l.contains("-d '"))
                    .and_then(|l| l.split("-d '").nth(1))
                    .map(|b| b.trim_end_matches('\'').to_string())
            });
            request = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.expect("body"));
        }
        let r = request.send().await.expect("example");
        assert!(
            r.status() == 200 || r.status() == 202,
            "{line}: {}",
            r.status()
        );
        if r.status() == 202 {
            let id = r.json::<serde_json::Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_string();
            assert_eq!(poll_result(&client, &base, &id).await.status(), 200);
        }
        answered += 1;
    }
    assert!(answered >= 4, "every example but the placeholder one ran");
    let all = client
        .get(format!("{base}/api/query?start=2019-04-16&end=2019-04-17"))
        .send()
        .await
        .expect("query")
        .text()
        .await
        .expect("body");
    assert_eq!(
        all.lines().count(),
        141,
        "header and the sample's 140 readings"
    );
    proc.signal("TERM");
}

/// A worker process serves `/metrics` on `--metrics-listen` (it has no other HTTP), promtool accepts it, and
/// its job counters move when it answers a job queued through a gateway process (issue 11).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_serves_metrics_that_move_with_its_jobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = seeded_db(&dir, &sample_readings()).await;
    let url = format!("sqlite://{db}");
    let (_g, base) = gateway(&db, &[]);
    let mut child = Command::new(worker_binary())
        .args([
            "--store",
            &url,
            "--queue",
            &url,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker");
    let stdout = child.stdout.take().expect("stdout");
    let _w = Proc(child);
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read the metrics address");
    let metrics = first
        .trim()
        .strip_prefix("airq-worker metrics on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{base}/api/query?start=2019-04-16&end=2019-04-17"))
        .header("Prefer", "respond-async")
        .send()
        .await
        .expect("submit");
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let done = client
        .get(format!("{base}/results/{id}?wait=30s"))
        .send()
        .await
        .expect("result");
    assert_eq!(done.status(), 200);
    let text = client
        .get(&metrics)
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    airq_common::testing::prometheus::promtool_check(&text);
    let answered = airq_common::testing::prometheus::value(
        &text,
        "airq_worker_jobs_total",
        &[("outcome", "answered")],
    );
    assert_eq!(answered, 1.0, "{text}");
    assert_eq!(
        airq_common::testing::prometheus::value(&text, "airq_build_info", &[("role", "worker")]),
        1.0
    );
    assert!(
        airq_common::testing::prometheus::value(&text, "airq_store_rows_read_total", &[]) >= 140.0
    );
}

//! `--provider local`: real airq-worker processes on this machine, scaled by the same commands and the same
//! autoscale loop as on AWS, against a real gateway and the embedded SQLite store and queue.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airq_common::backends::BackendUrls;
use airq_common::feed::FeedReader;
use airq_common::queue::sqlite::SqliteQueues;
use airq_common::queue::QueueService;
use airq_common::shutdown::CancellationToken;
use airq_common::store::sqlite::SqliteStore;
use airq_common::store::ReadingStore;
use airq_common::testing::process::{wait_until, workspace_binary};
use airq_deploy::autoscale::{Action, Policy};
use airq_deploy::fleet::{autoscale_loop, Fleet, LoopOptions};
use airq_deploy::local::{LocalFleet, LocalOptions};
use airq_gateway::SystemBuilder;

use crate::support::{deploy_ok, shared_config};

const SAMPLE: &[u8] = include_bytes!("../../../data/feed/sensor-community-2019-04-16.json");

/// The `airq-worker` binary of this build.
fn worker_binary() -> PathBuf {
    workspace_binary(
        Path::new(env!("CARGO_BIN_EXE_airq-deploy")),
        "airq-worker",
        "airq-worker",
    )
}

struct Setup {
    dir: tempfile::TempDir,
    db: String,
}

impl Setup {
    async fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir
            .path()
            .join("airq.db")
            .to_str()
            .expect("utf8")
            .to_string();
        let store = SqliteStore::open(&db).expect("store");
        let readings: Vec<_> = FeedReader::new(SAMPLE).collect();
        store.upsert(&readings).await.expect("seed readings");
        Setup { dir, db }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.db)
    }

    fn options(&self) -> LocalOptions {
        LocalOptions {
            state_dir: self.dir.path().join("stack"),
            worker_bin: worker_binary(),
            store: self.url(),
            queue: self.url(),
            concurrency: 2,
            // The default 60 s visibility: a job a stopping worker failed to finish would come back only
            // after the 30 s the test waits for each answer, so every answer in time shows the drain worked.
            worker_args: Vec::new(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_and_status_drive_worker_processes() {
    let setup = Setup::new().await;
    let config = shared_config().await;
    let state = setup.dir.path().join("cli-stack");
    let worker = worker_binary();
    let (state, worker, url) = (
        state.to_str().expect("utf8"),
        worker.to_str().expect("utf8"),
        setup.url(),
    );
    let local = |cmd: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--provider",
            "local",
            "--stack",
            "lap",
            "--state-dir",
            state,
            "--worker-bin",
            worker,
            "--store",
            &url,
            "--queue",
            &url,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| {
        let config = config.clone();
        async move {
            deploy_ok(
                &config,
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            )
            .await
        }
    };

    let out = run(local(&["scale", "--workers", "2"])).await;
    assert!(out.contains("workers: 0 -> 2"), "{out}");
    let status = run(local(&["--json", "status"])).await;
    let status: serde_json::Value = serde_json::from_str(status.trim()).expect("json");
    assert_eq!(status["counts"]["worker"]["running"], 2, "{status}");
    assert_eq!(status["table_items"], 140, "{status}");
    assert_eq!(status["queue"]["visible"], 0);
    let pids: Vec<i32> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str()?.strip_prefix("pid-")?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in &pids {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} runs"
        );
    }

    // Once they are serving (a worker stopped while it starts up is simply killed: it holds no job yet).
    let logs_dir = Path::new(state).join("workers");
    let read_logs = || -> Vec<String> {
        std::fs::read_dir(&logs_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    };
    let started = |n: usize| {
        let logs = read_logs();
        async move { logs.len() == n && logs.iter().all(|l| l.contains("airq-worker started")) }
    };
    wait_until("both workers to start", Duration::from_secs(30), || {
        started(2)
    })
    .await;

    // A third, then back to two: the newest goes, the first two stay.
    let out = run(local(&["scale", "--workers", "3"])).await;
    assert!(out.contains("workers: 2 -> 3"), "{out}");
    wait_until("the third worker to start", Duration::from_secs(30), || {
        started(3)
    })
    .await;
    let out = run(local(&["scale", "--workers", "2", "--wait", "30s"])).await;
    assert!(out.contains("workers: 3 -> 2"), "{out}");
    let status = run(local(&["--json", "status"])).await;
    let status: serde_json::Value = serde_json::from_str(status.trim()).expect("json");
    let mut left: Vec<i32> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str()?.strip_prefix("pid-")?.parse().ok())
        .collect();
    left.sort_unstable();
    let mut first_two = pids.clone();
    first_two.sort_unstable();
    assert_eq!(left, first_two, "the newest worker was the one stopped");

    // Scaling to zero sends SIGTERM and waits for the workers to exit.
    let out = run(local(&["scale", "--workers", "0", "--wait", "30s"])).await;
    assert!(out.contains("workers: 2 -> 0"), "{out}");
    assert!(!out.contains("still draining"), "{out}");
    let status = run(local(&["status"])).await;
    assert!(status.contains("instances: none"), "{status}");
    // Each worker drained and logged its clean stop.
    let logs = read_logs();
    assert_eq!(logs.len(), 3);
    for log in logs {
        assert!(
            log.contains("worker stopped; every job in hand was finished"),
            "{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscale_follows_the_backlog_and_loses_no_job() {
    let setup = Setup::new().await;
    // The real gateway, on the same database; every query is queued (Prefer: respond-async).
    let system = SystemBuilder::new(BackendUrls::embedded(&setup.db))
        .start()
        .await
        .expect("gateway");
    let base = system.base_url();
    let stop = CancellationToken::new();
    let stopped = stop.clone();

    let fleet = Arc::new(LocalFleet::open(setup.options()).await.expect("fleet"));
    let options = LoopOptions {
        policy: Policy {
            min: 0,
            max: 3,
            target_backlog_per_worker: 4.0,
            max_step: 3,
            scale_out_cooldown: Duration::ZERO,
            scale_in_cooldown: Duration::from_secs(1),
        },
        interval: Duration::from_millis(100),
        dry_run: false,
    };
    let most_workers = Arc::new(AtomicU32::new(0));
    let scale_ins = Arc::new(AtomicU32::new(0));
    // Workers stopped while jobs were still arriving.
    let trickling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped_while_busy = Arc::new(AtomicU32::new(0));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let looping = {
        let (fleet, most, ins, errors, stopped) = (
            fleet.clone(),
            most_workers.clone(),
            scale_ins.clone(),
            errors.clone(),
            stopped.clone(),
        );
        let (trickling, busy_stops) = (trickling.clone(), stopped_while_busy.clone());
        tokio::spawn(async move {
            autoscale_loop(
                fleet.as_ref(),
                &options,
                stopped.cancelled_owned(),
                |tick| match tick {
                    Ok(t) => {
                        if let Some(o) = &t.outcome {
                            most.fetch_max(o.after, Ordering::Relaxed);
                        }
                        if t.decision.action == Action::ScaleIn {
                            ins.fetch_add(1, Ordering::Relaxed);
                            let stopped_some =
                                t.outcome.as_ref().is_some_and(|o| !o.terminated.is_empty());
                            if stopped_some && trickling.load(Ordering::Relaxed) {
                                busy_stops.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string()),
                },
            )
            .await
        })
    };

    let client = reqwest::Client::new();
    let queries: Vec<String> = ["", "&country=DE", "&country=NL", "&band=Low", "&min_aqi=2"]
        .iter()
        .map(|extra| {
            format!("{base}/api/query?start=2019-04-16T00:00:00Z&end=2019-04-17T00:00:00Z{extra}")
        })
        .collect();
    // The expected answers, straight from the direct path.
    let mut expected = Vec::new();
    for q in &queries {
        let resp = client.get(q).send().await.expect("direct");
        assert_eq!(resp.status(), 200);
        expected.push(resp.text().await.expect("body"));
    }
    assert!(
        expected.iter().all(|csv| csv.lines().count() > 1),
        "every query has readings"
    );
    let submit = |i: usize| {
        let (client, q) = (client.clone(), queries[i % queries.len()].clone());
        async move {
            let resp = client
                .get(&q)
                .header("Prefer", "respond-async")
                .send()
                .await
                .expect("submit");
            assert_eq!(resp.status(), 202);
            let body: serde_json::Value =
                serde_json::from_str(&resp.text().await.expect("body")).expect("json");
            (i, body["id"].as_str().expect("id").to_string())
        }
    };

    // A burst: workers appear.
    let mut jobs = Vec::new();
    for i in 0..30 {
        jobs.push(submit(i).await);
    }
    wait_until("workers to appear", Duration::from_secs(20), || async {
        fleet.workers().await.map(|w| w.len() >= 2).unwrap_or(false)
    })
    .await;
    // A trickle while the backlog falls: workers are told to stop while jobs keep arriving.
    trickling.store(true, Ordering::Relaxed);
    for i in 30..110 {
        jobs.push(submit(i).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    trickling.store(false, Ordering::Relaxed);

    // Every job is answered, correctly.
    for (i, id) in &jobs {
        let resp = client
            .get(format!("{base}/results/{id}?wait=30s"))
            .send()
            .await
            .expect("result");
        assert_eq!(resp.status(), 200, "job {i} ({id})");
        assert_eq!(
            resp.text().await.expect("csv"),
            expected[i % queries.len()],
            "job {i}"
        );
    }
    // The empty queue makes the workers go after the cooldown, and they really exit.
    wait_until("every worker to exit", Duration::from_secs(60), || async {
        fleet.all_members().map(|m| m.is_empty()).unwrap_or(false)
    })
    .await;
    let depth = fleet.depth().await.expect("depth");
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
    assert_eq!(depth.dead_lettered, Some(0), "no job was dead-lettered");
    assert!(
        most_workers.load(Ordering::Relaxed) >= 2,
        "the backlog launched workers"
    );
    assert!(scale_ins.load(Ordering::Relaxed) >= 1);
    assert!(
        stopped_while_busy.load(Ordering::Relaxed) >= 1,
        "workers were stopped while jobs kept arriving"
    );
    assert!(
        errors.lock().unwrap_or_else(|p| p.into_inner()).is_empty(),
        "{:?}",
        errors
    );

    stop.cancel();
    looping.await.expect("loop task").expect("loop");
    system.shutdown().await.expect("gateway run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscale_dry_run_prints_decisions_and_changes_nothing() {
    let setup = Setup::new().await;
    let queues = SqliteQueues::open(&setup.db).expect("queues");
    let requests = queues
        .open_or_create(
            airq_common::queue::DEFAULT_REQUEST_QUEUE,
            &Default::default(),
        )
        .await
        .expect("queue");
    // Six waiting jobs (their content does not matter: nobody takes them).
    let bodies: Vec<String> = (0..6).map(|i| format!("{{\"job\":{i}}}")).collect();
    requests.send(&bodies).await.expect("send");

    let config = shared_config().await;
    let state = setup.dir.path().join("dry");
    let url = setup.url();
    let worker = worker_binary();
    let out = deploy_ok(
        &config,
        &[
            "--provider",
            "local",
            "--stack",
            "dry",
            "--state-dir",
            state.to_str().expect("utf8"),
            "--worker-bin",
            worker.to_str().expect("utf8"),
            "--store",
            &url,
            "--queue",
            &url,
            "autoscale",
            "--dry-run",
            "--min",
            "0",
            "--max",
            "5",
            "--target-backlog",
            "2",
            "--interval",
            "100ms",
            "--duration",
            "1s",
        ],
    )
    .await;
    assert!(out.contains("(dry run: nothing is changed)"), "{out}");
    let decisions: Vec<&str> = out.lines().filter(|l| l.starts_with('[')).collect();
    assert!(decisions.len() >= 3, "{out}");
    for line in &decisions {
        assert!(
            // The default --max-step of 2 caps the step.
            line.contains(
                "ScaleOut -> 2 workers: backlog 6 (target 2.0 per worker) wants 3, 0 running (step capped at 2)"
            ),
            "{line}"
        );
        assert!(line.ends_with("(dry run)"), "{line}");
    }
    let fleet = LocalFleet::open(LocalOptions {
        state_dir: state,
        ..setup.options()
    })
    .await
    .expect("fleet");
    assert!(
        fleet.all_members().expect("members").is_empty(),
        "no worker was started"
    );
}

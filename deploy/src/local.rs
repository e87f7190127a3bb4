//! `--provider local`: the worker fleet as `airq-worker` processes on this machine, against the embedded
//! backends (or any store and queue URL), so an operator can watch scaling on a laptop and tests can drive it.
//!
//! Each worker is a detached process (its own process group, so a Ctrl-C of the command that started it does not
//! reach it) recorded in `<state-dir>/workers/<pid>.json` with its start time from `/proc`, so a later command
//! (`status`, `scale`, another `autoscale`) finds the same workers and a reused pid is never mistaken for one.
//! Stopping a worker sends SIGTERM: it stops taking jobs, finishes those in hand, and exits; until then it is
//! listed as `stopping`. Linux only (it reads `/proc`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airq_common::queue::{JobQueue, QueueDepth, QueueOptions};
use async_trait::async_trait;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::DeployError;
use crate::fleet::{Fleet, Member};

/// What a local fleet runs.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Where worker records and logs are kept.
    pub state_dir: PathBuf,
    /// The `airq-worker` binary.
    pub worker_bin: PathBuf,
    pub store: String,
    pub queue: String,
    /// Each worker's `--concurrency`.
    pub concurrency: u32,
    /// Extra arguments for every worker.
    pub worker_args: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    pid: i32,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    start_ticks: u64,
    launched_ms: i64,
    stopping: bool,
    log: PathBuf,
}

/// The worker processes of one stack on this machine.
pub struct LocalFleet {
    options: LocalOptions,
    requests: Arc<dyn JobQueue>,
    /// Workers this process started: waited for, so they never linger as zombies.
    children: Mutex<HashMap<i32, Child>>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeployError {
    let what = what.into();
    move |source| DeployError::Io { what, source }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A process's start time and whether it has exited (a zombie has), from `/proc/<pid>/stat`.
fn proc_stat(pid: i32) -> Option<(u64, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some((start_ticks, *state == "Z" || *state == "X"))
}

impl LocalFleet {
    /// Opens the fleet: its state directory and the request queue it watches (created if missing).
    pub async fn open(options: LocalOptions) -> Result<Self, DeployError> {
        std::fs::create_dir_all(options.state_dir.join("workers"))
            .map_err(io(format!("creating {}", options.state_dir.display())))?;
        let (queues, name) = airq_common::queue::open_service(&options.queue).await?;
        let requests = queues
            .open_or_create(&name, &QueueOptions::default())
            .await?;
        Ok(LocalFleet {
            options,
            requests,
            children: Mutex::new(HashMap::new()),
        })
    }

    fn records_dir(&self) -> PathBuf {
        self.options.state_dir.join("workers")
    }

    fn record_path(&self, pid: i32) -> PathBuf {
        self.records_dir().join(format!("{pid}.json"))
    }

    fn write_record(&self, record: &Record) -> Result<(), DeployError> {
        let path = self.record_path(record.pid);
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(record).map_err(|e| DeployError::Unexpected {
            resource: path.display().to_string(),
            message: e.to_string(),
        })?;
        std::fs::write(&tmp, body).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("writing {}", path.display())))
    }

    /// Whether the recorded process still runs (and is the same process).
    fn alive(&self, record: &Record) -> bool {
        if let Some(child) = self
            .children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&record.pid)
        {
            if !matches!(child.try_wait(), Ok(None)) {
                return false;
            }
        }
        matches!(proc_stat(record.pid), Some((ticks, false)) if ticks == record.start_ticks)
    }

    /// Every recorded worker still running; records of exited ones are removed.
    fn records(&self) -> Result<Vec<Record>, DeployError> {
        let dir = self.records_dir();
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(format!("reading {}", dir.display())))? {
            let path = entry
                .map_err(io(format!("reading {}", dir.display())))?
                .path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<Record>(&text) else {
                tracing::warn!(path = %path.display(), "unreadable worker record; ignoring it");
                continue;
            };
            if self.alive(&record) {
                records.push(record);
            } else {
                let _ = std::fs::remove_file(&path);
                self.children
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&record.pid);
            }
        }
        records.sort_by_key(|r| (r.launched_ms, r.pid));
        Ok(records)
    }

    /// Every worker process, stopping ones included (for `status`).
    pub fn all_members(&self) -> Result<Vec<Member>, DeployError> {
        Ok(self.records()?.iter().map(member).collect())
    }

    /// Waits until no worker is stopping (or `timeout` passes); returns how many still are.
    pub async fn wait_stopped(&self, timeout: Duration) -> Result<usize, DeployError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stopping = self.records()?.iter().filter(|r| r.stopping).count();
            if stopping == 0 || tokio::time::Instant::now() >= deadline {
                return Ok(stopping);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn requests(&self) -> &Arc<dyn JobQueue> {
        &self.requests
    }

    pub fn state_dir(&self) -> &Path {
        &self.options.state_dir
    }

    fn spawn_one(&self) -> Result<Record, DeployError> {
        let o = &self.options;
        let log =
            self.records_dir()
                .join(format!("worker-{}-{}.log", now_ms(), rand::random::<u32>()));
        let out = std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("opening {}", log.display())))?;
        let mut command = Command::new(&o.worker_bin);
        command
            .arg("--store")
            .arg(&o.store)
            .arg("--queue")
            .arg(&o.queue)
            .arg("--concurrency")
            .arg(o.concurrency.to_string())
            .args(&o.worker_args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .map_err(io(format!("starting {}", o.worker_bin.display())))?;
        let pid = child.id() as i32;
        let start_ticks = proc_stat(pid).map(|(t, _)| t).unwrap_or(0);
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid, child);
        let record = Record {
            pid,
            start_ticks,
            launched_ms: now_ms(),
            stopping: false,
            log,
        };
        self.write_record(&record)?;
        Ok(record)
    }
}

fn member(record: &Record) -> Member {
    Member {
        id: format!("pid-{}", record.pid),
        launched_ms: record.launched_ms,
        state: if record.stopping {
            "stopping"
        } else {
            "running"
        }
        .to_string(),
        // Local workers all run the one binary given.
        stale: false,
    }
}

#[async_trait]
impl Fleet for LocalFleet {
    async fn workers(&self) -> Result<Vec<Member>, DeployError> {
        Ok(self
            .records()?
            .iter()
            .filter(|r| !r.stopping)
            .map(member)
            .collect())
    }

    async fn launch(&self, count: u32) -> Result<Vec<String>, DeployError> {
        let mut ids = Vec::new();
        for _ in 0..count {
            let record = self.spawn_one()?;
            tracing::info!(pid = record.pid, log = %record.log.display(), "worker started");
            ids.push(member(&record).id);
        }
        Ok(ids)
    }

    async fn terminate(&self, ids: &[String]) -> Result<(), DeployError> {
        let records = self.records()?;
        for id in ids {
            let Some(record) = records.iter().find(|r| &member(r).id == id) else {
                continue;
            };
            match kill(Pid::from_raw(record.pid), Signal::SIGTERM) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    return Err(DeployError::Unexpected {
                        resource: format!("worker process {}", record.pid),
                        message: format!("SIGTERM failed: {e}"),
                    })
                }
            }
            self.write_record(&Record {
                stopping: true,
                ..record.clone()
            })?;
            tracing::info!(
                pid = record.pid,
                "worker told to stop; it drains its jobs in hand"
            );
        }
        Ok(())
    }

    async fn depth(&self) -> Result<QueueDepth, DeployError> {
        Ok(self.requests.depth().await?)
    }

    fn describe(&self) -> String {
        format!(
            "local worker processes ({}) on {}",
            self.options.worker_bin.display(),
            self.options.queue
        )
    }
}

/// The `airq-worker` next to this executable (how release archives and `cargo build` lay binaries out).
pub fn default_worker_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("airq-worker")))
        .unwrap_or_else(|| PathBuf::from("airq-worker"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_reads_this_process() {
        let (ticks, exited) = proc_stat(std::process::id() as i32).expect("own stat");
        assert!(ticks > 0);
        assert!(!exited);
        assert!(proc_stat(i32::MAX).is_none());
    }
}

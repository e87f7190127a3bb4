//! The worker processes themselves: starting one, the record that lets a later command find it again, telling
//! it to stop, and whether it still runs (from `/proc`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::{io, LocalOptions};
use crate::error::DeployError;

/// One worker process, as recorded in `<state-dir>/workers/<pid>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) pid: i32,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub(super) start_ticks: u64,
    pub(super) launched_ms: i64,
    pub(super) stopping: bool,
    pub(super) log: PathBuf,
}

/// The records directory of one state directory, and the workers this process started.
pub(super) struct Processes {
    dir: PathBuf,
    /// Workers this process started: waited for, so they never linger as zombies.
    children: Mutex<HashMap<i32, Child>>,
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
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some((start_ticks, *state == "Z" || *state == "X"))
}

impl Processes {
    /// The processes recorded under `state_dir` (its records directory is created if missing).
    pub(super) fn open(state_dir: &Path) -> Result<Self, DeployError> {
        let dir = state_dir.join("workers");
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", state_dir.display())))?;
        Ok(Processes {
            dir,
            children: Mutex::new(HashMap::new()),
        })
    }

    fn record_path(&self, pid: i32) -> PathBuf {
        self.dir.join(format!("{pid}.json"))
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
    pub(super) fn records(&self) -> Result<Vec<Record>, DeployError> {
        let dir = &self.dir;
        let mut records = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))? {
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

    /// Starts one worker in its own process group, its output to a log file next to its record.
    pub(super) fn spawn(&self, o: &LocalOptions) -> Result<Record, DeployError> {
        let log = self
            .dir
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

    /// Sends the worker SIGTERM (it drains its jobs in hand, then exits) and records it as stopping.
    pub(super) fn stop(&self, record: &Record) -> Result<(), DeployError> {
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
        })
    }
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

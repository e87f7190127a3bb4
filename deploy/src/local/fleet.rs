//! The worker fleet as processes on this machine: the local [`Fleet`], as `aws::fleet` is the EC2 one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airq_common::queue::{JobQueue, QueueDepth, QueueOptions};
use async_trait::async_trait;

use super::process::{Processes, Record};
use super::LocalOptions;
use crate::error::DeployError;
use crate::fleet::{Fleet, Member};

/// The worker processes of one stack on this machine.
pub struct LocalFleet {
    options: LocalOptions,
    requests: Arc<dyn JobQueue>,
    processes: Processes,
}

impl LocalFleet {
    /// Opens the fleet: its state directory and the request queue it watches (created if missing).
    pub async fn open(options: LocalOptions) -> Result<Self, DeployError> {
        let processes = Processes::open(&options.state_dir)?;
        let (queues, name) = airq_common::queue::open_service(&options.queue).await?;
        let requests = queues
            .open_or_create(&name, &QueueOptions::default())
            .await?;
        Ok(LocalFleet {
            options,
            requests,
            processes,
        })
    }

    /// Every worker process, stopping ones included (for `status`).
    pub fn all_members(&self) -> Result<Vec<Member>, DeployError> {
        Ok(self.processes.records()?.iter().map(member).collect())
    }

    /// Waits until no worker is stopping (or `timeout` passes); returns how many still are.
    pub async fn wait_stopped(&self, timeout: Duration) -> Result<usize, DeployError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stopping = self
                .processes
                .records()?
                .iter()
                .filter(|r| r.stopping)
                .count();
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

    /// The store URL the workers write to.
    pub(super) fn store(&self) -> &str {
        &self.options.store
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
            .processes
            .records()?
            .iter()
            .filter(|r| !r.stopping)
            .map(member)
            .collect())
    }

    async fn launch(&self, count: u32) -> Result<Vec<String>, DeployError> {
        let mut ids = Vec::new();
        for _ in 0..count {
            let record = self.processes.spawn(&self.options)?;
            tracing::info!(pid = record.pid, log = %record.log.display(), "worker started");
            ids.push(member(&record).id);
        }
        Ok(ids)
    }

    async fn terminate(&self, ids: &[String]) -> Result<(), DeployError> {
        let records = self.processes.records()?;
        for id in ids {
            let Some(record) = records.iter().find(|r| &member(r).id == id) else {
                continue;
            };
            self.processes.stop(record)?;
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

//! The asking gateways' reply queues, opened once each, for [`Notice`]s. Notices are advisory (they wake
//! clients waiting on the gateway that queued the job; every gateway can read the result store), so a failure to
//! send one is logged and never fails a job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use airq_common::protocol::Notice;
use airq_common::queue::{JobQueue, QueueError, QueueService};

#[derive(Clone)]
pub struct Notices {
    service: Arc<dyn QueueService>,
    open: Arc<Mutex<HashMap<String, Arc<dyn JobQueue>>>>,
}

impl Notices {
    pub fn new(service: Arc<dyn QueueService>) -> Self {
        Notices {
            service,
            open: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<dyn JobQueue>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn queue(&self, name: &str) -> Result<Arc<dyn JobQueue>, QueueError> {
        if let Some(q) = self.lock().get(name) {
            return Ok(q.clone());
        }
        let queue = self.service.open(name).await?;
        self.lock().insert(name.to_string(), queue.clone());
        Ok(queue)
    }

    /// Sends `notice` to `reply_to`; a gateway that is gone (its queue removed) is not an error.
    pub async fn send(&self, reply_to: &str, notice: Notice) {
        let body = match serde_json::to_string(&notice) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "could not encode a notice");
                return;
            }
        };
        let sent = match self.queue(reply_to).await {
            Ok(queue) => queue.send(&[body]).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => {}
            Err(QueueError::NoSuchQueue(_)) => {
                self.lock().remove(reply_to);
                tracing::debug!(
                    reply_to,
                    "the asking gateway is gone; its clients can poll any gateway"
                );
            }
            Err(e) => {
                tracing::warn!(reply_to, error = %e, "could not send a notice; waiting clients will poll")
            }
        }
    }
}

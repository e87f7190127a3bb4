//! Wake-ups for clients waiting on this gateway (`GET /results/<id>?wait=`).
//!
//! The result store is the truth; a waiter re-reads it whenever it wakes. Wake-ups only make that prompt on
//! the gateway that queued the job (a worker's notice arrives on its reply queue); elsewhere a waiter polls the
//! store at a modest interval. So a wake-up can be shared: ids hash onto a fixed set of `Notify`s, a spurious
//! wake-up costs one store read, and nothing per id is ever kept or cleaned up.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::Notify;
use uuid::Uuid;

const SHARDS: usize = 64;

#[derive(Clone)]
pub struct Waiters {
    shards: Arc<[Notify; SHARDS]>,
}

impl Default for Waiters {
    fn default() -> Self {
        Waiters {
            shards: Arc::new(std::array::from_fn(|_| Notify::new())),
        }
    }
}

impl Waiters {
    fn shard(&self, id: &Uuid) -> &Notify {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        &self.shards[(hasher.finish() as usize) % SHARDS]
    }

    /// Wakes every client waiting on `id` (and, harmlessly, on ids sharing its shard).
    pub fn wake(&self, id: &Uuid) {
        self.shard(id).notify_waiters();
    }

    /// A wake-up for `id`, registered now: take it *before* reading the store, then await it, so that a notice
    /// arriving in between is not missed.
    pub fn notified(&self, id: &Uuid) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut notified = Box::pin(self.shard(id).notified());
        notified.as_mut().enable();
        notified
    }
}

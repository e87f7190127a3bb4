//! A bound on the queued jobs one client has pending at once.
//!
//! The per-client queued *rate* alone would let a patient client fill the queue over minutes; this bounds how
//! many of a client's jobs wait at any moment, so one client can never hold more than its share of the workers.
//! A job counts from the moment it is queued until the worker's notice that it finished reaches this gateway,
//! it is cancelled here, or its deadline passes (notices are advisory: a lost one frees its slot at the
//! deadline). The count is this gateway's: behind a load balancer a client may have up to the bound on each
//! gateway, which docs/reliability.md states.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use uuid::Uuid;

use crate::fair_use::{Client, Refused};

#[derive(Default)]
struct Books {
    jobs: HashMap<Uuid, (Client, Instant)>,
    per_client: HashMap<Client, usize>,
}

impl Books {
    fn release(&mut self, id: &Uuid) {
        if let Some((client, _)) = self.jobs.remove(id) {
            if let Some(count) = self.per_client.get_mut(&client) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_client.remove(&client);
                }
            }
        }
    }
}

/// Each client's pending queued jobs, as this gateway knows them.
pub struct Outstanding {
    /// Pending jobs per client at most; 0 turns the bound off.
    limit: usize,
    books: Mutex<Books>,
}

impl Outstanding {
    pub fn new(limit: usize) -> Self {
        Outstanding {
            limit,
            books: Mutex::new(Books::default()),
        }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for job `id` until `deadline`, or refuses when the client has `limit` pending already.
    /// Reserving before the job is queued (and [`release`](Self::release) if queueing fails) means concurrent
    /// requests cannot overshoot the bound.
    pub fn reserve(&self, client: &Client, id: Uuid, deadline: Instant) -> Result<(), Refused> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut books = self.books();
        let count = books.per_client.get(client).copied().unwrap_or(0);
        if count >= self.limit {
            let soonest = books
                .jobs
                .values()
                .filter(|(c, _)| c == client)
                .map(|(_, at)| at.saturating_duration_since(Instant::now()))
                .min()
                .unwrap_or(Duration::from_secs(1));
            return Err(Refused {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!(
                    "this client has {count} queued queries pending (at most {}); fetch or cancel some first",
                    self.limit
                ),
                // A finished job frees a slot long before its deadline: suggest polling, capped by the deadline.
                retry_after: soonest.clamp(Duration::from_secs(1), Duration::from_secs(5)),
            });
        }
        books.jobs.insert(id, (client.clone(), deadline));
        *books.per_client.entry(client.clone()).or_insert(0) += 1;
        Ok(())
    }

    /// Frees job `id`'s slot (finished, cancelled, or never queued); unknown ids are ignored.
    pub fn release(&self, id: &Uuid) {
        self.books().release(id);
    }

    /// Frees the slots of jobs past their deadline (their notice was lost, or they timed out).
    pub fn expire(&self) {
        let now = Instant::now();
        let mut books = self.books();
        let late: Vec<Uuid> = books
            .jobs
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            books.release(&id);
        }
    }

    /// Pending jobs of `client` (for tests and status).
    pub fn pending(&self, client: &Client) -> usize {
        self.books().per_client.get(client).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_bound_and_slots_come_back() {
        let books = Outstanding::new(2);
        let alice = Client::Key("alice".into());
        let bob = Client::Key("bob".into());
        let later = Instant::now() + Duration::from_secs(60);
        let (a1, a2, a3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        books.reserve(&alice, a1, later).expect("first");
        books.reserve(&alice, a2, later).expect("second");
        let refused = books.reserve(&alice, a3, later).expect_err("third");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.retry_after >= Duration::from_secs(1));
        books
            .reserve(&bob, Uuid::new_v4(), later)
            .expect("others are not affected");
        books.release(&a1);
        books.release(&a1);
        assert_eq!(books.pending(&alice), 1, "a release counts once");
        books.reserve(&alice, a3, later).expect("a freed slot");

        let past = Instant::now();
        let carol = Client::Key("carol".into());
        books.reserve(&carol, Uuid::new_v4(), past).expect("one");
        books.reserve(&carol, Uuid::new_v4(), past).expect("two");
        books.expire();
        assert_eq!(books.pending(&carol), 0, "deadlines free slots");
        assert_eq!(books.pending(&alice), 2);
        assert!(Outstanding::new(0)
            .reserve(&carol, Uuid::new_v4(), later)
            .is_ok());
    }
}

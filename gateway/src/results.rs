//! The gateway's table of queued jobs and their results.
//!
//! Each queued query has an entry from submission until it expires. A finished result can be fetched again
//! until `ttl` after it finished (the legacy gateway forgot a result after one fetch and kept unfetched ones
//! forever). Finished results and answers being reassembled share a byte budget; when a new result would exceed
//! it, the oldest finished results are evicted first. Expired, evicted and timed-out ids are remembered for a
//! while so that their clients get `410 Gone` rather than a misleading `404`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use airq_common::job::{Assembler, ReplyPart};
use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

/// What a client sees for an id.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Queued,
    Running,
    Done(Bytes),
    Failed {
        status: u16,
        error: String,
        field: Option<String>,
    },
    /// Known once, but expired, evicted or cancelled-and-expired: 410.
    Gone,
    /// Never known (or forgotten long ago): 404.
    Unknown,
}

enum State {
    Queued,
    Running,
    Done(Bytes),
    Failed {
        status: u16,
        error: String,
        field: Option<String>,
    },
}

struct Entry {
    state: State,
    /// Reported failed if no answer has arrived by then.
    deadline: Instant,
    /// Set when the entry finishes: it is dropped (and becomes `Gone`) at this time.
    expires: Option<Instant>,
    assembler: Assembler,
    /// Bytes of this entry counted against the budget.
    bytes: usize,
    changed: Arc<Notify>,
}

/// Limits for the table.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a finished result stays fetchable.
    pub ttl: Duration,
    /// Bytes of results (and partial answers) held at most.
    pub budget: usize,
    /// How long a queued job may take before it is reported failed.
    pub job_deadline: Duration,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Uuid, Entry>,
    /// Finished ids in the order they finished: eviction takes the oldest first.
    finished: VecDeque<Uuid>,
    held: usize,
    /// Ids that are gone, with when they may be forgotten entirely.
    gone: HashMap<Uuid, Instant>,
}

/// The table, shared by handlers and the reply consumer.
#[derive(Clone)]
pub struct Results {
    inner: Arc<Mutex<Inner>>,
    limits: Limits,
}

/// How long a gone id answers 410 before it is forgotten (and answers 404).
const REMEMBER_GONE: Duration = Duration::from_secs(3600);

impl Results {
    pub fn new(limits: Limits) -> Self {
        Results {
            inner: Default::default(),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a job about to be queued.
    pub fn insert(&self, id: Uuid) {
        let entry = Entry {
            state: State::Queued,
            deadline: Instant::now() + self.limits.job_deadline,
            expires: None,
            assembler: Assembler::default(),
            bytes: 0,
            changed: Arc::new(Notify::new()),
        };
        self.lock().entries.insert(id, entry);
    }

    /// Forgets a job (client cancelled, or queueing it failed). Returns whether it was known.
    pub fn remove(&self, id: &Uuid) -> bool {
        let mut inner = self.lock();
        let known = match inner.entries.remove(id) {
            Some(entry) => {
                inner.held -= entry.bytes;
                inner.finished.retain(|f| f != id);
                entry.changed.notify_waiters();
                true
            }
            None => false,
        };
        known | inner.gone.remove(id).is_some()
    }

    pub fn lookup(&self, id: &Uuid) -> Lookup {
        let inner = self.lock();
        match inner.entries.get(id) {
            Some(entry) => match &entry.state {
                State::Queued => Lookup::Queued,
                State::Running => Lookup::Running,
                State::Done(bytes) => Lookup::Done(bytes.clone()),
                State::Failed {
                    status,
                    error,
                    field,
                } => Lookup::Failed {
                    status: *status,
                    error: error.clone(),
                    field: field.clone(),
                },
            },
            None if inner.gone.contains_key(id) => Lookup::Gone,
            None => Lookup::Unknown,
        }
    }

    /// Waits until the id is no longer pending or `wait` passes, then looks it up.
    pub async fn wait(&self, id: &Uuid, wait: Duration) -> Lookup {
        let deadline = Instant::now() + wait;
        loop {
            // Bind the guard's result first: a guard living through the `match` would deadlock `lookup`.
            let pending = {
                let inner = self.lock();
                inner
                    .entries
                    .get(id)
                    .filter(|entry| matches!(entry.state, State::Queued | State::Running))
                    .map(|entry| entry.changed.clone())
            };
            let Some(changed) = pending else {
                return self.lookup(id);
            };
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Look again now that the wake-up is registered: the state may have changed in between.
            if !matches!(self.lookup(id), Lookup::Queued | Lookup::Running) {
                return self.lookup(id);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.lookup(id);
            }
        }
    }

    /// Applies a worker's reply. Replies for unknown or finished ids (duplicates, cancelled jobs) are ignored.
    pub fn apply(&self, part: ReplyPart) {
        let mut inner = self.lock();
        let id = part.id();
        let Some(entry) = inner.entries.get_mut(&id) else {
            return;
        };
        if matches!(entry.state, State::Done(_) | State::Failed { .. }) {
            return;
        }
        match part {
            ReplyPart::Running { .. } => {
                entry.state = State::Running;
                entry.changed.notify_waiters();
            }
            ReplyPart::Failed {
                http_status,
                error,
                field,
                ..
            } => {
                self.finish(
                    &mut inner,
                    id,
                    State::Failed {
                        status: http_status,
                        error,
                        field,
                    },
                    0,
                );
            }
            ReplyPart::Data {
                part, parts, data, ..
            } => {
                let before = entry.assembler.held_bytes;
                let added = entry.assembler.add(part, parts, &data);
                let after = entry.assembler.held_bytes;
                entry.bytes = entry.bytes + after - before;
                inner.held = inner.held + after - before;
                match added {
                    Ok(None) => {}
                    Ok(Some(csv)) => {
                        let size = csv.len();
                        if size > self.limits.budget {
                            let error = format!(
                                "the answer ({size} bytes) is larger than this gateway's result cache; narrow the query"
                            );
                            self.finish(
                                &mut inner,
                                id,
                                State::Failed {
                                    status: 507,
                                    error,
                                    field: None,
                                },
                                0,
                            );
                        } else {
                            self.finish(&mut inner, id, State::Done(Bytes::from(csv)), size);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(job_id = %id, error = %e, "bad reply part");
                        let error = "the worker's answer was damaged".to_string();
                        self.finish(
                            &mut inner,
                            id,
                            State::Failed {
                                status: 502,
                                error,
                                field: None,
                            },
                            0,
                        );
                    }
                }
            }
        }
    }

    /// Marks an entry finished, holding `size` bytes, and evicts the oldest results beyond the budget.
    fn finish(&self, inner: &mut Inner, id: Uuid, state: State, size: usize) {
        let Some(entry) = inner.entries.get_mut(&id) else {
            return;
        };
        let released = entry.bytes;
        entry.state = state;
        entry.bytes = size;
        entry.expires = Some(Instant::now() + self.limits.ttl);
        entry.assembler = Assembler::default();
        entry.changed.notify_waiters();
        inner.held = inner.held - released + size;
        inner.finished.push_back(id);
        while inner.held > self.limits.budget {
            let Some(oldest) = inner.finished.pop_front() else {
                break;
            };
            if oldest == id && inner.finished.is_empty() {
                inner.finished.push_back(oldest);
                break;
            }
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.held -= evicted.bytes;
                inner.gone.insert(oldest, Instant::now() + REMEMBER_GONE);
            }
        }
    }

    /// Expires finished results past their TTL, fails jobs past their deadline, forgets old gone ids.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        let expired: Vec<Uuid> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.expires.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(entry) = inner.entries.remove(&id) {
                inner.held -= entry.bytes;
                inner.finished.retain(|f| *f != id);
                inner.gone.insert(id, now + REMEMBER_GONE);
            }
        }
        let late: Vec<Uuid> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.expires.is_none() && e.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            let error = "no worker answered before the job's deadline".to_string();
            self.finish(
                &mut inner,
                id,
                State::Failed {
                    status: 504,
                    error,
                    field: None,
                },
                0,
            );
        }
        inner.gone.retain(|_, until| *until > now);
    }

    /// Bytes held (results and partial answers), for metrics and tests.
    pub fn held_bytes(&self) -> usize {
        self.lock().held
    }

    /// Jobs not yet finished.
    pub fn pending(&self) -> usize {
        self.lock()
            .entries
            .values()
            .filter(|e| matches!(e.state, State::Queued | State::Running))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airq_common::job::encode_answer;

    fn limits(budget: usize) -> Limits {
        Limits {
            ttl: Duration::from_secs(60),
            budget,
            job_deadline: Duration::from_secs(60),
        }
    }

    fn answer(results: &Results, id: Uuid, csv: &[u8]) {
        for msg in encode_answer(id, csv, 4096).expect("encode") {
            results.apply(serde_json::from_str(&msg).expect("part"));
        }
    }

    #[tokio::test]
    async fn a_result_can_be_fetched_again_until_it_expires() {
        tokio::time::pause();
        let results = Results::new(limits(1 << 20));
        let id = Uuid::new_v4();
        results.insert(id);
        assert_eq!(results.lookup(&id), Lookup::Queued);
        results.apply(ReplyPart::Running { id });
        assert_eq!(results.lookup(&id), Lookup::Running);
        answer(&results, id, b"a,b\n1,2\n");
        for _ in 0..3 {
            assert_eq!(
                results.lookup(&id),
                Lookup::Done(Bytes::from_static(b"a,b\n1,2\n"))
            );
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        results.sweep();
        assert_eq!(results.lookup(&id), Lookup::Gone);
        assert_eq!(results.held_bytes(), 0);
        assert_eq!(results.lookup(&Uuid::new_v4()), Lookup::Unknown);
    }

    #[tokio::test]
    async fn the_oldest_results_are_evicted_beyond_the_budget() {
        let results = Results::new(limits(250));
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            results.insert(*id);
            answer(&results, *id, &[b'x'; 100]);
        }
        assert_eq!(results.lookup(&ids[0]), Lookup::Gone);
        assert!(matches!(results.lookup(&ids[1]), Lookup::Done(_)));
        assert!(matches!(results.lookup(&ids[2]), Lookup::Done(_)));
        assert_eq!(results.held_bytes(), 200);
    }

    #[tokio::test]
    async fn an_answer_over_the_whole_budget_fails_clearly() {
        let results = Results::new(limits(50));
        let id = Uuid::new_v4();
        results.insert(id);
        answer(&results, id, &[b'x'; 100]);
        assert!(matches!(
            results.lookup(&id),
            Lookup::Failed { status: 507, .. }
        ));
        assert_eq!(results.held_bytes(), 0);
    }

    #[tokio::test]
    async fn duplicates_and_strays_are_ignored() {
        let results = Results::new(limits(1 << 20));
        let id = Uuid::new_v4();
        results.insert(id);
        answer(&results, id, b"first");
        answer(&results, id, b"second");
        assert_eq!(
            results.lookup(&id),
            Lookup::Done(Bytes::from_static(b"first"))
        );
        answer(&results, Uuid::new_v4(), b"stray");
        assert_eq!(results.held_bytes(), 5);
    }

    #[tokio::test]
    async fn a_late_job_fails_and_waiters_wake() {
        tokio::time::pause();
        let results = Results::new(limits(1 << 20));
        let id = Uuid::new_v4();
        results.insert(id);
        let waiter = {
            let results = results.clone();
            tokio::spawn(async move { results.wait(&id, Duration::from_secs(600)).await })
        };
        tokio::time::advance(Duration::from_secs(61)).await;
        results.sweep();
        assert!(matches!(
            waiter.await.expect("join"),
            Lookup::Failed { status: 504, .. }
        ));
    }

    #[tokio::test]
    async fn cancelled_jobs_are_forgotten() {
        let results = Results::new(limits(1 << 20));
        let id = Uuid::new_v4();
        results.insert(id);
        assert!(results.remove(&id));
        assert_eq!(results.lookup(&id), Lookup::Unknown);
        answer(&results, id, b"late");
        assert_eq!(results.lookup(&id), Lookup::Unknown);
        assert!(!results.remove(&id));
    }
}

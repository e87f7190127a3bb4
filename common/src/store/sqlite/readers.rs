//! The threads that read answers' pages. Each read used to be a `spawn_blocking` task: under many concurrent
//! queries tokio's blocking pool keeps a thread per task in flight, and every task put one to sleep on the
//! pool's condvar and woke another (the scheduler's switches were a tenth of an uncached answer's CPU). A few
//! threads, one per pooled connection, take reads from one queue instead: while reads are waiting a thread goes
//! from one to the next without sleeping, and no more threads compete for the connections than there are.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::store::StoreError;

type Read = Box<dyn FnOnce() + Send>;

/// The reader threads; they end when the last clone is dropped.
#[derive(Clone)]
pub struct Readers {
    queue: crossbeam_channel::Sender<Read>,
}

impl Readers {
    pub fn new(threads: usize) -> Result<Readers, StoreError> {
        let (queue, reads) = crossbeam_channel::unbounded::<Read>();
        for i in 0..threads.max(1) {
            let reads = reads.clone();
            std::thread::Builder::new()
                .name(format!("airq-sqlite-read-{i}"))
                .spawn(move || {
                    for read in reads {
                        // A read that panics loses its answer (its caller gets an error), not the thread.
                        let _ = catch_unwind(AssertUnwindSafe(read));
                    }
                })
                .map_err(|e| StoreError::Task(format!("could not start a reader thread: {e}")))?;
        }
        Ok(Readers { queue })
    }

    /// Runs `read` on a reader thread and waits (asynchronously) for its result.
    pub async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.queue
            .send(Box::new(move || {
                let _ = done.send(read());
            }))
            .map_err(|_| StoreError::Task("the reader threads have stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Task("a read panicked".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_that_panics_is_an_error_and_the_threads_live_on() {
        let readers = Readers::new(1).expect("threads");
        assert_eq!(readers.run(|| Ok(7)).await.expect("read"), 7);
        let panicked: Result<(), StoreError> = readers.run(|| panic!("a bad read")).await;
        assert!(matches!(panicked, Err(StoreError::Task(_))), "{panicked:?}");
        // The one thread caught the panic and takes the next read.
        assert_eq!(readers.run(|| Ok(8)).await.expect("read"), 8);
    }
}

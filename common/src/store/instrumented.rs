//! A reading store that reports its queries to the metrics: duration of the whole answer, rows read, errors.
//! Every store [`open_store`](super::open_store) returns is wrapped in one, so every role (gateway direct path,
//! workers) and both backends are measured the same way, in one place.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures::StreamExt;

use super::{IngestNote, IngestNotes, PageStream, ReadingStore, StoreError, StoreStats};
use crate::metrics::{STORE_ERRORS, STORE_QUERY_DURATION, STORE_ROWS_READ};
use crate::{Query, Reading};

pub struct Instrumented {
    inner: Arc<dyn ReadingStore>,
    backend: &'static str,
}

impl Instrumented {
    pub fn new(inner: Arc<dyn ReadingStore>, backend: &'static str) -> Self {
        Instrumented { inner, backend }
    }
}

/// Records one query when its stream ends (or is dropped unfinished: a client that went away still cost the
/// rows read so far).
struct QueryTimer {
    backend: &'static str,
    started: Instant,
    rows: u64,
}

impl Drop for QueryTimer {
    fn drop(&mut self) {
        metrics::histogram!(STORE_QUERY_DURATION, "backend" => self.backend)
            .record(self.started.elapsed().as_secs_f64());
        metrics::counter!(STORE_ROWS_READ, "backend" => self.backend).increment(self.rows);
    }
}

#[async_trait]
impl ReadingStore for Instrumented {
    async fn upsert(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        self.inner.upsert(readings).await
    }

    fn query(&self, query: &Query, page_size: usize) -> PageStream {
        let backend = self.backend;
        let mut timer = QueryTimer {
            backend,
            started: Instant::now(),
            rows: 0,
        };
        self.inner
            .query(query, page_size)
            .inspect(move |page| {
                // The whole timer moves into the closure (a field alone would be captured otherwise), so it
                // is dropped, and recorded, with the stream.
                let timer = &mut timer;
                match page {
                    Ok(page) => timer.rows += page.readings.len() as u64,
                    Err(_) => metrics::counter!(STORE_ERRORS, "backend" => backend).increment(1),
                }
            })
            .boxed()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats().await
    }

    async fn data_version(&self) -> Result<u64, StoreError> {
        self.inner.data_version().await
    }

    fn encoded_rows(
        &self,
        query: &crate::query::Query,
        encoder: crate::answer::Encoder,
        page_size: usize,
    ) -> Option<super::EncodedStream> {
        let backend = self.backend;
        let mut timer = QueryTimer {
            backend,
            started: Instant::now(),
            rows: 0,
        };
        let pages = self.inner.encoded_rows(query, encoder, page_size)?;
        Some(
            pages
                .inspect(move |page| {
                    let timer = &mut timer;
                    match page {
                        Ok(page) => timer.rows += page.rows,
                        Err(_) => {
                            metrics::counter!(STORE_ERRORS, "backend" => backend).increment(1)
                        }
                    }
                })
                .boxed(),
        )
    }

    async fn newest(&self) -> Result<Option<crate::time::EpochSeconds>, StoreError> {
        self.inner.newest().await
    }

    async fn note_ingest(&self, note: &IngestNote) -> Result<(), StoreError> {
        self.inner.note_ingest(note).await
    }

    async fn ingest_notes(&self) -> Result<IngestNotes, StoreError> {
        self.inner.ingest_notes().await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

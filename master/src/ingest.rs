//! One ingest run: source → reader → batches → `ReadingStore::upsert`.
//!
//! Parsing is synchronous (the readers are `std::io::Read` iterators), so it runs on a blocking thread that
//! hands batches to the writer through a channel of two: parsing and writing overlap, and memory stays at a few
//! batches whatever the source's size (an HTTP body is streamed into the parser, never buffered whole).
//!
//! A stop request is honoured between batches: the upsert in flight completes, no further batch is started, and
//! the readings parsed ahead of the writer are counted in the summary as not written rather than dropped
//! silently.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use airq_common::archive::ArchiveReader;
use airq_common::feed::FeedReader;
use airq_common::reading::ParseStats;
use airq_common::shutdown::CancellationToken;
use airq_common::store::ReadingStore;
use airq_common::Reading;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;

use crate::error::{chain, IngestError};
use crate::http::{self, Fetched, Validators};
use crate::source::{csv_files, Format, Source};
use crate::summary::{Damage, IngestSummary};

/// What a run needs besides its source.
pub struct Ingest {
    pub store: Arc<dyn ReadingStore>,
    /// The source's format; detected from the source when `None`.
    pub format: Option<Format>,
    /// Country for archive rows (archives have no country column).
    pub country: String,
    /// Readings per `upsert` call.
    pub batch: usize,
    pub http: reqwest::Client,
}

/// What the parsing thread reports once its reader is done: the counts and any damage.
type Finish = (ParseStats, Option<Damage>);

impl Ingest {
    /// Runs once. `validators` carry a URL's ETag/Last-Modified from one scheduled run to the next; they are
    /// replaced only after a body was read to its end without damage, so a damaged fetch is retried in full.
    pub async fn run(
        &self,
        source: &Source,
        validators: &mut Validators,
        stop: &CancellationToken,
    ) -> Result<IngestSummary, IngestError> {
        let started = Instant::now();
        let format = self.format.unwrap_or_else(|| source.default_format());
        let mut summary = IngestSummary {
            source: source.to_string(),
            store: self.store.describe(),
            ..Default::default()
        };
        match source {
            Source::File(path) => {
                let name = path.display().to_string();
                let file = std::fs::File::open(path).map_err(|error| IngestError::Source {
                    source_name: name.clone(),
                    error,
                })?;
                self.ingest_reader(Box::new(file), format, &name, &mut summary, stop)
                    .await?;
            }
            Source::Folder(folder) => {
                let files = csv_files(folder).map_err(|error| IngestError::Source {
                    source_name: folder.display().to_string(),
                    error,
                })?;
                for path in files {
                    if stop.is_cancelled() {
                        summary.interrupted = true;
                        break;
                    }
                    let name = path.display().to_string();
                    match std::fs::File::open(&path) {
                        Ok(file) => {
                            self.ingest_reader(Box::new(file), format, &name, &mut summary, stop)
                                .await?
                        }
                        // One unreadable file does not stop the others; it is reported as damage.
                        Err(e) => summary.damage.push(Damage {
                            source: name,
                            offset: None,
                            kind: "unreadable",
                            message: e.to_string(),
                        }),
                    }
                }
            }
            Source::Url(url) => match http::fetch(&self.http, url, validators).await? {
                Fetched::NotModified => summary.not_modified = true,
                Fetched::Body(response, fresh) => {
                    // The body ends early on a stop request, so that a stalled server cannot hold the stop for
                    // the whole HTTP timeout; the run is then reported as interrupted, not damaged.
                    let stream = response
                        .bytes_stream()
                        .map_err(|e| std::io::Error::other(chain(&e.without_url())))
                        .take_until(Box::pin(stop.clone().cancelled_owned()));
                    let reader = tokio_util::io::SyncIoBridge::new(
                        tokio_util::io::StreamReader::new(stream),
                    );
                    self.ingest_reader(Box::new(reader), format, url, &mut summary, stop)
                        .await?;
                    if summary.is_complete() {
                        *validators = fresh;
                    }
                }
            },
        }
        summary.finish(started.elapsed());
        Ok(summary)
    }

    /// Ingests bytes already in memory (the sample bundled into a binary), as a source named `name`.
    pub async fn run_bytes(
        &self,
        name: &str,
        bytes: &'static [u8],
        format: Format,
        stop: &CancellationToken,
    ) -> Result<IngestSummary, IngestError> {
        let started = Instant::now();
        let mut summary = IngestSummary {
            source: name.to_string(),
            store: self.store.describe(),
            ..Default::default()
        };
        self.ingest_reader(Box::new(bytes), format, name, &mut summary, stop)
            .await?;
        summary.finish(started.elapsed());
        Ok(summary)
    }

    /// Parses `input` on a blocking thread and writes its batches as they come, until the input ends or a stop
    /// is requested.
    async fn ingest_reader(
        &self,
        input: Box<dyn Read + Send>,
        format: Format,
        name: &str,
        summary: &mut IngestSummary,
        stop: &CancellationToken,
    ) -> Result<(), IngestError> {
        let (tx, mut rx) = mpsc::channel::<Vec<Reading>>(2);
        let batch = self.batch.max(1);
        let country = self.country.clone();
        let source_name = name.to_string();
        let parser = tokio::task::spawn_blocking(move || -> Finish {
            parse(input, format, &country, batch, &tx, &source_name)
        });
        let stopped = stop.clone().cancelled_owned();
        tokio::pin!(stopped);
        let mut interrupted = false;
        loop {
            // `biased`: once a stop is requested, no new batch is started even if one is waiting. The upsert
            // below is never raced against the stop, so the batch in flight is always finished.
            let readings = tokio::select! {
                biased;
                _ = &mut stopped => {
                    interrupted = true;
                    break;
                }
                next = rx.recv() => match next {
                    Some(readings) => readings,
                    None => break,
                },
            };
            // On a store error the receiver is dropped on return, which stops the parser at its next batch.
            summary.readings_written += self.store.upsert(&readings).await?;
        }
        // Dropping the receiver makes the parser stop at its next batch.
        drop(rx);
        let (stats, damage) = parser.await.map_err(|e| IngestError::Task(e.to_string()))?;
        summary.add_stats(&stats);
        summary.interrupted |= interrupted;
        // An interrupted HTTP body ends early and looks truncated; that is the stop, not damage.
        if !interrupted {
            summary.damage.extend(damage);
        }
        Ok(())
    }
}

/// Reads `input`, sending batches of readings until it ends, is damaged, or the receiver goes away.
fn parse(
    input: Box<dyn Read + Send>,
    format: Format,
    country: &str,
    batch: usize,
    tx: &mpsc::Sender<Vec<Reading>>,
    name: &str,
) -> Finish {
    let input = std::io::BufReader::with_capacity(256 << 10, input);
    let send_all = |readings: &mut dyn Iterator<Item = Reading>| {
        let mut buf = Vec::with_capacity(batch);
        for r in readings {
            buf.push(r);
            if buf.len() >= batch
                && tx
                    .blocking_send(std::mem::replace(&mut buf, Vec::with_capacity(batch)))
                    .is_err()
            {
                return;
            }
        }
        if !buf.is_empty() {
            // The writer may have stopped; these readings are then counted as parsed but not written.
            let _ = tx.blocking_send(buf);
        }
    };
    match format {
        Format::Feed => {
            let mut reader = FeedReader::new(input);
            send_all(&mut reader);
            let (stats, damage) = reader.into_parts();
            (stats, damage.map(|d| Damage::from_feed(name, &d)))
        }
        Format::ArchiveCsv => match ArchiveReader::new(input, country) {
            Ok(mut reader) => {
                send_all(&mut reader);
                let (stats, damage) = reader.into_parts();
                (stats, damage.map(|d| Damage::from_archive(name, &d)))
            }
            Err(e) => (
                ParseStats::default(),
                Some(Damage::from_archive_error(name, &e)),
            ),
        },
    }
}

//! One ingest run: source → reader → batches → `ReadingStore::upsert`.
//!
//! Parsing is synchronous (the readers are `std::io::Read` iterators), so it runs on a blocking thread that
//! hands batches to the writer through a channel of two: parsing and writing overlap, and memory stays at a
//! couple of batches whatever the source's size. A stop request is honoured between batches: the batch being
//! written is finished, nothing is half-written.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use airq_common::archive::ArchiveReader;
use airq_common::feed::FeedReader;
use airq_common::reading::ParseStats;
use airq_common::store::ReadingStore;
use airq_common::Reading;
use futures::TryStreamExt;
use tokio::sync::{mpsc, watch};

use crate::http::{self, Fetched, Validators};
use crate::source::{csv_files, Format, Source};
use crate::summary::{Damage, IngestSummary};
use crate::IngestError;

/// What a run needs besides its source.
pub struct Ingest {
    pub store: Arc<dyn ReadingStore>,
    pub format: Option<Format>,
    /// Country for archive rows (archives have no country column).
    pub country: String,
    pub batch: usize,
    pub http: reqwest::Client,
}

/// A parse result sent from the blocking thread: the stats and any damage, once the reader is done.
type Finish = (ParseStats, Option<Damage>);

impl Ingest {
    /// Runs once. `validators` carry a URL's ETag/Last-Modified between scheduled runs.
    pub async fn run(
        &self,
        source: &Source,
        validators: &mut Validators,
        stop: &watch::Receiver<bool>,
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
                let file = std::fs::File::open(path).map_err(|e| IngestError::Source {
                    source_name: path.display().to_string(),
                    error: e,
                })?;
                self.ingest_reader(
                    Box::new(file),
                    format,
                    &path.display().to_string(),
                    &mut summary,
                    stop,
                )
                .await?;
            }
            Source::Folder(folder) => {
                let files = csv_files(folder).map_err(|e| IngestError::Source {
                    source_name: folder.display().to_string(),
                    error: e,
                })?;
                for path in files {
                    if *stop.borrow() {
                        summary.interrupted = true;
                        break;
                    }
                    let name = path.display().to_string();
                    match std::fs::File::open(&path) {
                        Ok(file) => {
                            self.ingest_reader(Box::new(file), format, &name, &mut summary, stop)
                                .await?
                        }
                        Err(e) => summary.damage.push(Damage {
                            source: name,
                            offset: None,
                            message: e.to_string(),
                        }),
                    }
                }
            }
            Source::Url(url) => match http::fetch(&self.http, url, validators).await? {
                Fetched::NotModified => summary.not_modified = true,
                Fetched::Body(response, fresh) => {
                    let stream = response.bytes_stream().map_err(std::io::Error::other);
                    let reader = tokio_util::io::SyncIoBridge::new(
                        tokio_util::io::StreamReader::new(stream),
                    );
                    self.ingest_reader(Box::new(reader), format, url, &mut summary, stop)
                        .await?;
                    // Remember the validators only for a body read to the end without damage.
                    if summary.damage.is_empty() && !summary.interrupted {
                        *validators = fresh;
                    }
                }
            },
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    /// Ingests bytes already in memory (the sample bundled into a binary), as a source named `name`.
    pub async fn run_bytes(
        &self,
        name: &str,
        bytes: &'static [u8],
        format: Format,
        stop: &watch::Receiver<bool>,
    ) -> Result<IngestSummary, IngestError> {
        let started = Instant::now();
        let mut summary = IngestSummary {
            source: name.to_string(),
            store: self.store.describe(),
            ..Default::default()
        };
        self.ingest_reader(Box::new(bytes), format, name, &mut summary, stop)
            .await?;
        summary.elapsed = started.elapsed();
        Ok(summary)
    }

    async fn ingest_reader(
        &self,
        input: Box<dyn Read + Send>,
        format: Format,
        name: &str,
        summary: &mut IngestSummary,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), IngestError> {
        let (tx, mut rx) = mpsc::channel::<Vec<Reading>>(2);
        let batch = self.batch.max(1);
        let country = self.country.clone();
        let source_name = name.to_string();
        let parser = tokio::task::spawn_blocking(move || -> Finish {
            parse(input, format, &country, batch, &tx, &source_name)
        });
        let mut interrupted = false;
        while let Some(readings) = rx.recv().await {
            summary.readings_written += self.store.upsert(&readings).await?;
            if *stop.borrow() {
                interrupted = true;
                break;
            }
        }
        // Dropping the receiver makes the parser stop at its next batch.
        drop(rx);
        let (stats, damage) = parser.await.map_err(|e| IngestError::Task(e.to_string()))?;
        summary.add_stats(&stats);
        summary.interrupted |= interrupted;
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
            let _ = tx.blocking_send(buf);
        }
    };
    match format {
        Format::Feed => {
            let mut reader = FeedReader::new(input);
            send_all(&mut reader);
            let (stats, damage) = reader.into_parts();
            let damage = damage.map(|d| Damage {
                source: name.to_string(),
                offset: Some(d.offset),
                message: d.kind.to_string(),
            });
            (stats, damage)
        }
        Format::ArchiveCsv => match ArchiveReader::new(input, country) {
            Ok(mut reader) => {
                send_all(&mut reader);
                (reader.into_stats(), None)
            }
            Err(e) => (
                ParseStats::default(),
                Some(Damage {
                    source: name.to_string(),
                    offset: Some(0),
                    message: e.to_string(),
                }),
            ),
        },
    }
}

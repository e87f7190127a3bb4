//! Streaming an answer into the result store and back out, so that neither the worker that writes it nor the
//! gateway that serves it ever holds more than a part of it.
//!
//! Writing: CSV chunks go through one gzip stream; whenever the compressed bytes reach the store's part size, a
//! part is cut and stored ([`AnswerWriter`]). The parts concatenated are that one gzip stream, so a reader can
//! either pass them on as they are (`Content-Encoding: gzip`) or decompress them part by part
//! ([`csv_stream`]), checking the gzip trailer and the CSV length at the end.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use flate2::write::{GzDecoder, GzEncoder};
use futures::stream::{self, BoxStream, StreamExt};
use uuid::Uuid;

use super::{Answer, Outcome, ResultError, ResultStore};

/// Largest answer kept in the record itself, for backends that keep small answers inline.
pub const INLINE_BYTES: usize = 64 * 1024;
/// Compressed bytes decompressed per output chunk: bounds what one client's answer costs the gateway at a time.
const DECODE_SLICE: usize = 16 * 1024;

/// Writes one attempt at a job's answer.
pub struct AnswerWriter {
    store: Arc<dyn ResultStore>,
    id: Uuid,
    attempt: Uuid,
    gz: GzEncoder<Vec<u8>>,
    part_bytes: usize,
    max_bytes: u64,
    next_part: u32,
    stored: u64,
    csv: u64,
}

impl AnswerWriter {
    /// A new attempt (a fresh attempt id: a redelivered job never mixes its parts with a dead worker's).
    pub fn new(store: Arc<dyn ResultStore>, id: Uuid) -> Self {
        let part_bytes = store.part_bytes().max(1024);
        let max_bytes = store.max_answer_bytes();
        AnswerWriter {
            store,
            id,
            attempt: Uuid::new_v4(),
            gz: GzEncoder::new(
                Vec::with_capacity(part_bytes * 2),
                flate2::Compression::fast(),
            ),
            part_bytes,
            max_bytes,
            next_part: 0,
            stored: 0,
            csv: 0,
        }
    }

    pub fn attempt(&self) -> Uuid {
        self.attempt
    }

    /// Compresses `csv` and stores every part that has filled.
    pub async fn write(&mut self, csv: &[u8]) -> Result<(), ResultError> {
        self.csv += csv.len() as u64;
        // Writing into a Vec cannot fail.
        self.gz
            .write_all(csv)
            .map_err(|e| ResultError::Task(e.to_string()))?;
        let pending = self.gz.get_ref().len() as u64;
        if self.stored + pending > self.max_bytes {
            return Err(ResultError::TooLarge {
                size: self.stored + pending,
                limit: self.max_bytes,
            });
        }
        while self.gz.get_ref().len() >= self.part_bytes {
            let part: Vec<u8> = self.gz.get_mut().drain(..self.part_bytes).collect();
            self.put(Bytes::from(part)).await?;
        }
        Ok(())
    }

    async fn put(&mut self, part: Bytes) -> Result<(), ResultError> {
        self.stored += part.len() as u64;
        self.store
            .put_part(self.id, self.attempt, self.next_part, part)
            .await?;
        self.next_part += 1;
        Ok(())
    }

    /// Ends the gzip stream, stores what is left and records the answer. Returns whether this attempt's answer
    /// is the one recorded (false: the job had already finished, been cancelled or timed out).
    pub async fn finish(mut self) -> Result<bool, ResultError> {
        let rest = self
            .gz
            .try_finish()
            .map(|()| std::mem::take(self.gz.get_mut()))
            .map_err(|e| ResultError::Task(e.to_string()))?;
        let size = self.stored + rest.len() as u64;
        if size > self.max_bytes {
            return Err(ResultError::TooLarge {
                size,
                limit: self.max_bytes,
            });
        }
        let inline = if self.next_part == 0 && rest.len() <= INLINE_BYTES {
            Some(Bytes::from(rest))
        } else {
            self.put(Bytes::from(rest)).await?;
            None
        };
        let answer = Answer {
            attempt: self.attempt,
            parts: if inline.is_some() { 1 } else { self.next_part },
            csv_bytes: self.csv,
            stored_bytes: size,
            inline,
            // The format is the record's, written when the job was created; `finish` does not change it.
            format: Default::default(),
        };
        self.store.finish(self.id, Outcome::Done(answer)).await
    }
}

/// The stored (gzip) bytes of an answer, part by part.
pub fn gzip_stream(
    store: Arc<dyn ResultStore>,
    id: Uuid,
    answer: Answer,
) -> BoxStream<'static, Result<Bytes, ResultError>> {
    if let Some(inline) = answer.inline.clone() {
        return stream::once(async move { Ok(inline) }).boxed();
    }
    stream::iter(0..answer.parts)
        .then(move |n| {
            let store = store.clone();
            async move { store.read_part(id, answer.attempt, n).await }
        })
        .boxed()
}

/// The answer's CSV, decompressed a slice at a time; the gzip trailer (CRC and length) and the CSV length on
/// record are checked at the end, so a damaged answer ends in an error, never in wrong bytes served as whole.
pub fn csv_stream(
    store: Arc<dyn ResultStore>,
    id: Uuid,
    answer: Answer,
) -> BoxStream<'static, Result<Bytes, ResultError>> {
    let want = answer.csv_bytes;
    let parts = gzip_stream(store, id, answer);
    struct State {
        parts: BoxStream<'static, Result<Bytes, ResultError>>,
        part: Bytes,
        decoder: Option<GzDecoder<Vec<u8>>>,
        produced: u64,
        want: u64,
    }
    let state = State {
        parts,
        part: Bytes::new(),
        decoder: Some(GzDecoder::new(Vec::new())),
        produced: 0,
        want,
    };
    let damaged = |e: std::io::Error| ResultError::Corrupt(format!("stored answer: {e}"));
    stream::try_unfold(state, move |mut s| async move {
        loop {
            let Some(decoder) = s.decoder.as_mut() else {
                return Ok(None);
            };
            if !s.part.is_empty() {
                let slice = s.part.split_to(s.part.len().min(DECODE_SLICE));
                decoder.write_all(&slice).map_err(damaged)?;
                let out = std::mem::take(decoder.get_mut());
                if out.is_empty() {
                    continue;
                }
                s.produced += out.len() as u64;
                return Ok(Some((Bytes::from(out), s)));
            }
            match s.parts.next().await {
                Some(part) => s.part = part?,
                None => {
                    let mut decoder = s
                        .decoder
                        .take()
                        .unwrap_or_else(|| GzDecoder::new(Vec::new()));
                    decoder.try_finish().map_err(damaged)?;
                    let out = std::mem::take(decoder.get_mut());
                    s.produced += out.len() as u64;
                    if s.produced != s.want {
                        return Err(ResultError::Corrupt(format!(
                            "stored answer has {} bytes of CSV, the record says {}",
                            s.produced, s.want
                        )));
                    }
                    if out.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some((Bytes::from(out), s)));
                }
            }
        }
    })
    .boxed()
}

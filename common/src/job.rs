//! The messages between gateways and workers: a queued query (`Job`) and its answer (`ReplyPart`s).
//!
//! An answer can be far larger than a queue message (the legacy system silently lost any answer over SQS's
//! limit). So the worker gzips the CSV, splits the compressed bytes into parts that each fit the queue's message
//! limit once base64-encoded inside their JSON envelope, and the gateway reassembles them by job id. CSV
//! compresses about 5-10x, so most answers are one message.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::query::Query;

/// A query queued by a gateway for a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub query: Query,
    /// The gateway's own reply queue: only that gateway reads the answer.
    pub reply_to: String,
    /// When the gateway accepted the query, in milliseconds since the epoch.
    pub submitted_at: i64,
}

/// What a worker reports about a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplyPart {
    /// A worker has started the job.
    Running { id: Uuid },
    /// Part `part` (0-based) of `parts` of the gzip-compressed CSV answer, base64-encoded.
    Data {
        id: Uuid,
        part: u32,
        parts: u32,
        data: String,
    },
    /// The job cannot succeed; `http_status` is the HTTP status the gateway should answer with.
    Failed {
        id: Uuid,
        http_status: u16,
        error: String,
        field: Option<String>,
    },
}

impl ReplyPart {
    pub fn id(&self) -> Uuid {
        match self {
            ReplyPart::Running { id }
            | ReplyPart::Data { id, .. }
            | ReplyPart::Failed { id, .. } => *id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("message limit of {0} bytes is too small for a reply envelope")]
    LimitTooSmall(usize),
    #[error("reply part is not valid: {0}")]
    BadPart(String),
    #[error("answer could not be decompressed: {0}")]
    Decompress(#[from] std::io::Error),
}

/// Room left for the JSON envelope around a part's data (id, counters, keys).
const ENVELOPE_BYTES: usize = 160;

/// Compresses `csv` and splits it into reply messages no larger than `max_message_bytes` each.
pub fn encode_answer(
    id: Uuid,
    csv: &[u8],
    max_message_bytes: usize,
) -> Result<Vec<String>, JobError> {
    let room = max_message_bytes
        .checked_sub(ENVELOPE_BYTES)
        .filter(|r| *r >= 4)
        .ok_or(JobError::LimitTooSmall(max_message_bytes))?;
    // base64 turns 3 bytes into 4: this many raw bytes fit in `room` once encoded.
    let chunk = room / 4 * 3;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(csv.len() / 4),
        flate2::Compression::fast(),
    );
    gz.write_all(csv)?;
    let compressed = gz.finish()?;
    let chunks: Vec<&[u8]> = if compressed.is_empty() {
        vec![&[]]
    } else {
        compressed.chunks(chunk).collect()
    };
    let parts = chunks.len() as u32;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let part = ReplyPart::Data {
                id,
                part: i as u32,
                parts,
                data: B64.encode(bytes),
            };
            serde_json::to_string(&part).map_err(|e| JobError::BadPart(e.to_string()))
        })
        .collect()
}

/// Collects the data parts of one answer, in any order and with duplicates, until all have arrived.
#[derive(Debug, Default)]
pub struct Assembler {
    parts: BTreeMap<u32, Vec<u8>>,
    expected: Option<u32>,
    /// Compressed bytes held so far, for the gateway's memory accounting.
    pub held_bytes: usize,
}

impl Assembler {
    /// Adds a part. Returns the whole CSV once every part is in.
    pub fn add(&mut self, part: u32, parts: u32, data: &str) -> Result<Option<Vec<u8>>, JobError> {
        if parts == 0 || part >= parts || self.expected.is_some_and(|p| p != parts) {
            return Err(JobError::BadPart(format!("part {part} of {parts}")));
        }
        self.expected = Some(parts);
        let bytes = B64
            .decode(data)
            .map_err(|e| JobError::BadPart(e.to_string()))?;
        if !self.parts.contains_key(&part) {
            self.held_bytes += bytes.len();
            self.parts.insert(part, bytes);
        }
        if self.parts.len() as u32 != parts {
            return Ok(None);
        }
        let compressed: Vec<u8> = std::mem::take(&mut self.parts)
            .into_values()
            .flatten()
            .collect();
        self.held_bytes = 0;
        let mut csv = Vec::with_capacity(compressed.len() * 6);
        flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut csv)?;
        Ok(Some(csv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(msg: &str) -> ReplyPart {
        serde_json::from_str(msg).expect("json")
    }

    #[test]
    fn answers_round_trip_through_parts_in_any_order() {
        // Incompressible-ish content so that it needs several parts.
        let csv: Vec<u8> = (0..400_000u32)
            .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect();
        let id = Uuid::new_v4();
        let limit = 64 * 1024;
        let mut msgs = encode_answer(id, &csv, limit).expect("encode");
        assert!(msgs.len() > 10);
        assert!(
            msgs.iter().all(|m| m.len() <= limit),
            "a part over the limit"
        );
        msgs.reverse();
        msgs.push(msgs[3].clone()); // a duplicate delivery
        let mut asm = Assembler::default();
        let mut done = None;
        for m in &msgs {
            let ReplyPart::Data {
                part,
                parts,
                data,
                id: got,
            } = parse(m)
            else {
                panic!("data part")
            };
            assert_eq!(got, id);
            if let Some(csv) = asm.add(part, parts, &data).expect("add") {
                done = Some(csv);
                break;
            }
        }
        assert_eq!(done.expect("complete"), csv);
    }

    #[test]
    fn an_empty_answer_is_one_part() {
        let msgs = encode_answer(Uuid::new_v4(), b"", 256 * 1024).expect("encode");
        assert_eq!(msgs.len(), 1);
        let ReplyPart::Data {
            part, parts, data, ..
        } = parse(&msgs[0])
        else {
            panic!("data")
        };
        assert_eq!(
            Assembler::default().add(part, parts, &data).expect("add"),
            Some(Vec::new())
        );
    }

    #[test]
    fn bad_parts_are_errors() {
        let mut asm = Assembler::default();
        assert!(asm.add(2, 2, "").is_err());
        assert!(asm.add(0, 0, "").is_err());
        assert!(asm.add(0, 2, "!!!").is_err());
        assert!(encode_answer(Uuid::new_v4(), b"x", 100).is_err());
    }
}

//! Streaming reader for Sensor.Community JSON snapshot feeds (`[ {record}, {record}, ... ]`).
//!
//! The feed can be hundreds of megabytes, and the live one is sometimes cut off or has garbage appended. So the
//! reader never holds the document: a small scanner finds where each top-level array element begins and ends in
//! a sliding buffer, and each element alone goes through serde. That keeps memory near one record, gives exact
//! byte offsets for damage, and lets a syntactically broken record be counted and skipped while the records
//! before any real damage are kept.

use std::fmt;
use std::io::{self, Read};

use crate::reading::{ParseStats, Reading, SkipReason};

mod raw;

use raw::RawRecord;

/// How far the reader got before the input stopped making sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feed damaged at byte {offset}: {kind}")]
pub struct FeedDamage {
    /// Byte offset (from the start of the input) where the damage begins.
    pub offset: u64,
    pub kind: DamageKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DamageKind {
    /// The input is empty or whitespace only.
    Empty,
    /// The first non-blank byte is not `[`.
    NotAnArray,
    /// The input ends inside a record or before the closing `]`.
    Truncated,
    /// A byte that cannot continue the array (a stray character between records, a mismatched bracket).
    Unexpected(u8),
    /// Non-blank bytes after the closing `]`.
    TrailingGarbage,
    /// One element is larger than the reader's per-record cap.
    RecordTooLarge,
    /// Reading the input failed.
    Io(String),
}

impl fmt::Display for DamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DamageKind::Empty => f.write_str("the feed is empty"),
            DamageKind::NotAnArray => f.write_str("the feed is not a JSON array"),
            DamageKind::Truncated => f.write_str("the feed ends inside a record (truncated)"),
            DamageKind::Unexpected(b) => write!(f, "unexpected byte {:?}", char::from(*b)),
            DamageKind::TrailingGarbage => f.write_str("garbage after the end of the array"),
            DamageKind::RecordTooLarge => f.write_str("a record is larger than the 4 MiB cap"),
            DamageKind::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// The cap on one record: real records are under 2 KiB; anything this large is damage, not data.
const MAX_RECORD: usize = 4 << 20;
const READ_CHUNK: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// After `[` or `,`: an element (or, after `[`, the closing `]`) comes next.
    ExpectElement {
        first: bool,
    },
    /// After an element: `,` or `]` comes next.
    ExpectSeparator,
    /// After the closing `]`: only whitespace may follow.
    AfterArray,
    Finished,
}

/// Reads a feed and yields its readings; skips are counted in [`FeedReader::stats`], damage is reported by
/// [`FeedReader::damage`] once the iterator ends.
pub struct FeedReader<R> {
    input: R,
    buf: Vec<u8>,
    /// Fixed read buffer, zeroed once: reads land here and are appended to `buf`.
    scratch: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    eof: bool,
    state: State,
    stats: ParseStats,
    damage: Option<FeedDamage>,
    /// Open brackets of the element being scanned, innermost last.
    stack: Vec<u8>,
}

impl<R: Read> FeedReader<R> {
    pub fn new(input: R) -> Self {
        FeedReader {
            input,
            buf: Vec::with_capacity(READ_CHUNK * 2),
            scratch: vec![0; READ_CHUNK],
            pos: 0,
            base: 0,
            eof: false,
            state: State::Start,
            stats: ParseStats::default(),
            damage: None,
            stack: Vec::with_capacity(8),
        }
    }

    pub fn stats(&self) -> &ParseStats {
        &self.stats
    }

    /// The damage that ended the read early, if any. Meaningful once the iterator has returned `None`.
    pub fn damage(&self) -> Option<&FeedDamage> {
        self.damage.as_ref()
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn into_parts(self) -> (ParseStats, Option<FeedDamage>) {
        (self.stats, self.damage)
    }

    /// Reads more input, dropping consumed bytes first. Returns false at end of input.
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        if self.pos > 0 {
            // What remains is at most one partial element, so this move is small.
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        loop {
            match self.input.read(&mut self.scratch) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&self.scratch[..n]);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    let offset = self.base + self.buf.len() as u64;
                    self.fail(offset, DamageKind::Io(e.to_string()));
                    return false;
                }
            }
        }
    }

    fn fail(&mut self, offset: u64, kind: DamageKind) {
        if self.damage.is_none() {
            self.damage = Some(FeedDamage { offset, kind });
        }
        self.state = State::Finished;
    }

    /// The next non-whitespace byte (not consumed), reading more input as needed.
    fn peek_significant(&mut self) -> Option<u8> {
        loop {
            while self.pos < self.buf.len() {
                let b = self.buf[self.pos];
                if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    self.pos += 1;
                } else {
                    return Some(b);
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Finds the end of the element starting at `self.pos`. Returns its length, or `None` after recording damage.
    fn scan_element(&mut self) -> Option<usize> {
        self.stack.clear();
        let mut i = self.pos;
        let mut in_string = false;
        let mut escaped = false;
        let mut scalar = false;
        loop {
            while i < self.buf.len() {
                let b = self.buf[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if self.stack.is_empty() {
                            return Some(i + 1 - self.pos);
                        }
                    } else {
                        // Jump to the next quote or backslash: string contents are most of a record's bytes.
                        i = memchr::memchr2(b'"', b'\\', &self.buf[i..])
                            .map_or(self.buf.len(), |skip| i + skip);
                        continue;
                    }
                } else if scalar {
                    if matches!(b, b',' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        return Some(i - self.pos);
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => self.stack.push(b),
                        b'}' | b']' => {
                            let open = if b == b'}' { b'{' } else { b'[' };
                            if self.stack.pop() != Some(open) {
                                self.fail(self.base + i as u64, DamageKind::Unexpected(b));
                                return None;
                            }
                            if self.stack.is_empty() {
                                return Some(i + 1 - self.pos);
                            }
                        }
                        _ if self.stack.is_empty() => scalar = true,
                        _ => {}
                    }
                }
                i += 1;
            }
            if i - self.pos > MAX_RECORD {
                self.fail(self.bytes_read(), DamageKind::RecordTooLarge);
                return None;
            }
            let consumed_before = self.pos;
            if !self.fill() {
                // The element starting at `pos` never ends: report where it began.
                self.fail(self.bytes_read(), DamageKind::Truncated);
                return None;
            }
            // `fill` moved the unconsumed bytes to the front of the buffer.
            i -= consumed_before - self.pos;
        }
    }

    /// Advances the state machine to the next complete element and returns (offset, length) within `buf`.
    fn next_element(&mut self) -> Option<(usize, usize)> {
        loop {
            match self.state {
                State::Finished => return None,
                State::Start => {
                    // A UTF-8 byte-order mark is harmless; skip it.
                    if self.buf.len() < 3 && !self.eof {
                        self.fill();
                    }
                    if self.buf[self.pos..].starts_with(&[0xEF, 0xBB, 0xBF]) {
                        self.pos += 3;
                    }
                    match self.peek_significant() {
                        // An I/O error already recorded its own damage; `fail` keeps the first.
                        None => self.fail(0, DamageKind::Empty),
                        Some(b'[') => {
                            self.pos += 1;
                            self.state = State::ExpectElement { first: true };
                        }
                        Some(_) => self.fail(self.bytes_read(), DamageKind::NotAnArray),
                    }
                }
                State::ExpectElement { first } => match self.peek_significant() {
                    None => self.fail(self.bytes_read(), DamageKind::Truncated),
                    Some(b']') if first => {
                        self.pos += 1;
                        self.state = State::AfterArray;
                    }
                    Some(b',' | b']') => {
                        let b = self.buf[self.pos];
                        self.fail(self.bytes_read(), DamageKind::Unexpected(b));
                    }
                    Some(_) => {
                        let len = self.scan_element()?;
                        let start = self.pos;
                        self.pos += len;
                        self.state = State::ExpectSeparator;
                        return Some((start, len));
                    }
                },
                State::ExpectSeparator => match self.peek_significant() {
                    None => self.fail(self.bytes_read(), DamageKind::Truncated),
                    Some(b',') => {
                        self.pos += 1;
                        self.state = State::ExpectElement { first: false };
                    }
                    Some(b']') => {
                        self.pos += 1;
                        self.state = State::AfterArray;
                    }
                    Some(b) => self.fail(self.bytes_read(), DamageKind::Unexpected(b)),
                },
                State::AfterArray => {
                    match self.peek_significant() {
                        None => self.state = State::Finished,
                        Some(_) => self.fail(self.bytes_read(), DamageKind::TrailingGarbage),
                    }
                    return None;
                }
            }
        }
    }
}

impl<R: Read> Iterator for FeedReader<R> {
    type Item = Reading;

    fn next(&mut self) -> Option<Reading> {
        loop {
            let (start, len) = self.next_element()?;
            self.stats.records_seen += 1;
            let element = &self.buf[start..start + len];
            // Fast path: ~40% of the live feed is temperature/humidity records. A record whose bytes hold neither
            // `"P1"` nor `"P2"` cannot carry a PM value, so it is skipped without being deserialized. (A broken
            // record without them is therefore counted as no_pm_value rather than malformed_record.)
            let outcome = if !mentions_pm(element) {
                Err(SkipReason::NoPmValue)
            } else {
                match serde_json::from_slice::<RawRecord<'_>>(element) {
                    Ok(raw) => raw.fields().into_reading(&mut self.stats),
                    Err(_) => Err(SkipReason::MalformedRecord),
                }
            };
            match outcome {
                Ok(reading) => {
                    self.stats.readings += 1;
                    return Some(reading);
                }
                Err(reason) => self.stats.skip(reason),
            }
        }
    }
}

fn mentions_pm(element: &[u8]) -> bool {
    memchr::memmem::find(element, b"\"P1\"").is_some()
        || memchr::memmem::find(element, b"\"P2\"").is_some()
}

/// Reads a whole feed from `input`: the readings, the counts, and any damage.
pub fn read_feed<R: Read>(input: R) -> (Vec<Reading>, ParseStats, Option<FeedDamage>) {
    let mut reader = FeedReader::new(input);
    let readings: Vec<Reading> = reader.by_ref().collect();
    let (stats, damage) = reader.into_parts();
    (readings, stats, damage)
}

#[cfg(test)]
mod tests;

//! Streaming reader for Sensor.Community JSON snapshot feeds (`[ {record}, {record}, ... ]`).
//!
//! The feed can be hundreds of megabytes, and the live one is sometimes cut off or has garbage appended. So the
//! reader never holds the document: a small scanner finds where each top-level array element begins and ends in
//! a sliding buffer, and each element alone goes through serde. That keeps memory near one record, gives exact
//! byte offsets for damage, and lets a syntactically broken record be counted and skipped while the records
//! before any real damage are kept.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::reading::{optional_f64, pm_value, ParseStats, Reading, RecordFields, SkipReason};
use crate::time::parse_feed_timestamp;

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

/// A record as it appears in the feed. Unknown keys are ignored; every field is optional so that old and new
/// snapshots parse alike, and the rules decide what is missing.
#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(default)]
    id: Scalar<'a>,
    #[serde(default, borrow)]
    timestamp: Scalar<'a>,
    #[serde(default, borrow)]
    location: Option<RawLocation<'a>>,
    #[serde(default, borrow)]
    sensor: Option<RawSensor<'a>>,
    #[serde(default, borrow)]
    sensordatavalues: Option<Vec<RawValue<'a>>>,
}

#[derive(Deserialize, Default)]
struct RawLocation<'a> {
    #[serde(default)]
    id: Scalar<'a>,
    #[serde(default, borrow)]
    latitude: Scalar<'a>,
    #[serde(default, borrow)]
    longitude: Scalar<'a>,
    #[serde(default, borrow)]
    altitude: Scalar<'a>,
    #[serde(default, borrow)]
    country: Scalar<'a>,
    #[serde(default, borrow)]
    indoor: Scalar<'a>,
}

#[derive(Deserialize)]
struct RawSensor<'a> {
    #[serde(default)]
    id: Scalar<'a>,
    #[serde(default, borrow)]
    sensor_type: Option<RawSensorType<'a>>,
}

#[derive(Deserialize)]
struct RawSensorType<'a> {
    #[serde(default, borrow)]
    name: Scalar<'a>,
}

#[derive(Deserialize)]
struct RawValue<'a> {
    #[serde(default, borrow)]
    value: Scalar<'a>,
    #[serde(default, borrow)]
    value_type: Scalar<'a>,
}

impl<'a> RawRecord<'a> {
    fn fields(&'a self) -> RecordFields<'a> {
        let location = self.location.as_ref();
        let sensor = self.sensor.as_ref();
        let mut fields = RecordFields {
            id: self.id.as_u64(),
            sensor_id: sensor.and_then(|s| s.id.as_u64()),
            sensor_type: sensor
                .and_then(|s| s.sensor_type.as_ref())
                .and_then(|t| t.name.as_str())
                .unwrap_or(""),
            location_id: location.and_then(|l| l.id.as_u64()),
            latitude: location.and_then(|l| l.latitude.as_f64()),
            longitude: location.and_then(|l| l.longitude.as_f64()),
            altitude: location.and_then(|l| l.altitude.as_f64()),
            country: location.and_then(|l| l.country.as_str()).unwrap_or(""),
            indoor: location.and_then(|l| l.indoor.as_bool()),
            timestamp: self.timestamp.as_str().and_then(parse_feed_timestamp),
            pm10: None,
            pm25: None,
        };
        for value in self.sensordatavalues.iter().flatten() {
            let slot = match value.value_type.as_str() {
                Some("P1") => &mut fields.pm10,
                Some("P2") => &mut fields.pm25,
                _ => continue,
            };
            let is_pm10 = value.value_type.as_str() == Some("P1");
            *slot = Some(value.value.pm(is_pm10));
        }
        fields
    }
}

/// A JSON scalar read loosely: the feed writes numbers as strings, but older snapshots and other tools write
/// them as numbers, and either may be null or absent.
#[derive(Debug, Default)]
enum Scalar<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// An object or array where a scalar was expected.
    Other,
}

impl Scalar<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::UInt(v) => Some(*v),
            Scalar::Int(v) => u64::try_from(*v).ok(),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Str(s) => optional_f64(s),
            Scalar::Float(v) if v.is_finite() => Some(*v),
            Scalar::Int(v) => Some(*v as f64),
            Scalar::UInt(v) => Some(*v as f64),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            Scalar::Int(v) => Some(*v != 0),
            Scalar::UInt(v) => Some(*v != 0),
            Scalar::Str(s) => match s.trim() {
                "1" | "true" => Some(true),
                "0" | "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    fn pm(&self, is_pm10: bool) -> Result<f64, SkipReason> {
        match self {
            Scalar::Str(s) => pm_value(s, is_pm10),
            Scalar::Float(v) => crate::reading::check_pm(*v, is_pm10),
            Scalar::Int(v) => crate::reading::check_pm(*v as f64, is_pm10),
            Scalar::UInt(v) => crate::reading::check_pm(*v as f64, is_pm10),
            _ => Err(SkipReason::InvalidNumber),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON scalar")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::UInt(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Missing)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Missing)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Reads a whole feed from `input`: the readings, the counts, and any damage.
pub fn read_feed<R: Read>(input: R) -> (Vec<Reading>, ParseStats, Option<FeedDamage>) {
    let mut reader = FeedReader::new(input);
    let readings: Vec<Reading> = reader.by_ref().collect();
    let (stats, damage) = reader.into_parts();
    (readings, stats, damage)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../../data/feed/sensor-community-2019-04-16.json");

    /// Hands out its input a few bytes at a time, to exercise every buffer-refill boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Fails after handing out `good` bytes.
    struct FailsAfter<'a> {
        data: &'a [u8],
    }

    impl Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer reset"));
            }
            let n = buf.len().min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_real_sample_gives_140_readings() {
        let (readings, stats, damage) = read_feed(SAMPLE);
        assert_eq!(damage, None);
        assert_eq!(stats.records_seen, 243);
        assert_eq!(readings.len(), 140);
        assert_eq!(stats.readings, 140);
        assert_eq!(stats.total_skipped(), 243 - 140);
        // The second record of the sample: NL, SDS011 6507, P1 20.40 (PM10), P2 14.80 (PM2.5).
        let r = readings
            .iter()
            .find(|r| r.sensor_id == 6507)
            .expect("sensor 6507");
        assert_eq!((r.pm10, r.pm25), (Some(20.4), Some(14.8)));
        assert_eq!(r.country, "NL");
        assert_eq!(r.id, Some(3_379_485_920));
        assert_eq!(r.location_id, Some(3287));
        assert_eq!(r.latitude, Some(52.22));
        assert_eq!(r.altitude, Some(4.7));
        assert_eq!(r.aqi, 2);
    }

    #[test]
    fn one_byte_at_a_time_reads_the_same() {
        let (whole, stats_whole, _) = read_feed(SAMPLE);
        for step in [1, 2, 7, 1000] {
            let (trickled, stats, damage) = read_feed(Trickle { data: SAMPLE, step });
            assert_eq!(damage, None, "step {step}");
            assert_eq!(trickled, whole, "step {step}");
            assert_eq!(stats, stats_whole, "step {step}");
        }
    }

    /// Cutting the feed anywhere keeps every record that ended before the cut and reports where the damage is.
    #[test]
    fn truncation_keeps_earlier_records() {
        let (all, _, _) = read_feed(SAMPLE);
        for cut in [
            1,
            500,
            SAMPLE.len() / 3,
            SAMPLE.len() / 2 + 17,
            SAMPLE.len() - 2,
        ] {
            let (kept, stats, damage) = read_feed(&SAMPLE[..cut]);
            let damage = damage.expect("damage");
            assert_eq!(damage.kind, DamageKind::Truncated, "cut {cut}");
            assert!(damage.offset <= cut as u64, "cut {cut}: {damage}");
            assert_eq!(kept[..], all[..kept.len()], "cut {cut}");
            // Nothing complete before the cut is lost: the record at the damage offset was the first incomplete one.
            let complete_before = SAMPLE[..damage.offset as usize]
                .iter()
                .filter(|b| **b == b'{')
                .count();
            assert!(
                stats.records_seen as usize * 4 <= complete_before,
                "cut {cut}"
            );
        }
        let (kept, _, damage) = read_feed(&SAMPLE[..SAMPLE.len() - 1]);
        assert_eq!(kept.len(), 140);
        assert_eq!(damage.map(|d| d.kind), Some(DamageKind::Truncated));
    }

    #[test]
    fn garbage_after_the_array_is_reported_and_records_kept() {
        let mut data = SAMPLE.to_vec();
        let end = data.len() as u64;
        data.extend_from_slice(b"\n<html>502 Bad Gateway</html>");
        let (kept, _, damage) = read_feed(&data[..]);
        assert_eq!(kept.len(), 140);
        let damage = damage.expect("damage");
        assert_eq!(damage.kind, DamageKind::TrailingGarbage);
        assert_eq!(damage.offset, end + 1);
    }

    #[test]
    fn a_broken_record_is_skipped_and_the_rest_read() {
        let data = br#"[{"sensor": {"id": 1}, "sensordatavalues": [{"value": "5", "value_type": "P1"}], "timestamp": "2019-04-16 14:22:52"},
            {"sensor": "oops" "x", "sensordatavalues": [{"value": "5", "value_type": "P1"}]},
            7,
            {"sensor": {"id": 2}, "sensordatavalues": [{"value": 6.5, "value_type": "P2"}], "timestamp": "2019-04-16 14:22:52"}]"#;
        let (kept, stats, damage) = read_feed(&data[..]);
        assert_eq!(damage, None);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].pm25, Some(6.5));
        assert_eq!(stats.skipped[&SkipReason::MalformedRecord], 1);
        // Without "P1"/"P2" in its bytes a record is skipped unread, as having no PM value.
        assert_eq!(stats.skipped[&SkipReason::NoPmValue], 1);
    }

    #[test]
    fn strings_with_brackets_do_not_confuse_the_scanner() {
        let data = br#"[{"sensor": {"id": 1, "sensor_type": {"name": "SDS]}011\"x"}}, "sensordatavalues": [{"value": "5", "value_type": "P1"}], "timestamp": "2019-04-16 14:22:52"}]"#;
        let (kept, _, damage) = read_feed(&data[..]);
        assert_eq!(damage, None);
        assert_eq!(kept[0].sensor_type, "SDS]}011\"x");
    }

    #[test]
    fn not_a_feed() {
        assert_eq!(
            read_feed(&b""[..]).2.map(|d| d.kind),
            Some(DamageKind::Empty)
        );
        assert_eq!(
            read_feed(&b"  \n"[..]).2.map(|d| d.kind),
            Some(DamageKind::Empty)
        );
        let (_, _, d) = read_feed(&b"<html>"[..]);
        assert_eq!(
            d,
            Some(FeedDamage {
                offset: 0,
                kind: DamageKind::NotAnArray
            })
        );
        let (_, _, d) = read_feed(&b"[{}, {}}]"[..]);
        assert_eq!(
            d,
            Some(FeedDamage {
                offset: 7,
                kind: DamageKind::Unexpected(b'}')
            })
        );
        assert_eq!(read_feed(&b"[]"[..]).2, None);
        assert_eq!(read_feed(&b"\xEF\xBB\xBF[]"[..]).2, None);
    }

    #[test]
    fn a_read_error_is_damage_at_its_offset() {
        let cut = SAMPLE.len() / 2;
        let (kept, _, damage) = read_feed(FailsAfter {
            data: &SAMPLE[..cut],
        });
        assert!(!kept.is_empty());
        let damage = damage.expect("damage");
        assert!(matches!(damage.kind, DamageKind::Io(_)), "{damage}");
        assert!(damage.offset <= cut as u64);
    }

    #[test]
    fn skip_reasons_are_counted() {
        let rec = |ty: &str, p1: &str, ts: &str| {
            format!(
                r#"{{"sensor": {{"id": 9, "sensor_type": {{"name": "{ty}"}}}}, "timestamp": "{ts}", "location": {{"country": "de"}},
                   "sensordatavalues": [{{"value": "{p1}", "value_type": "P1"}}]}}"#
            )
        };
        let ts = "2019-04-16 14:22:52";
        let feed = format!(
            "[{}, {}, {}, {}, {}, {}]",
            rec("SDS011", "12", ts),
            rec("SDS011", "-3", ts),
            rec("SDS011", "1999.9", ts),
            rec("PPD42NS", "12", ts),
            rec("SDS011", "12", "16.04.2019"),
            rec("SDS011", "abc", ts),
        );
        let (kept, stats, damage) = read_feed(feed.as_bytes());
        assert_eq!(damage, None);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].country, "DE");
        for reason in [
            SkipReason::NegativeValue,
            SkipReason::SaturatedSensor,
            SkipReason::ParticleCounter,
            SkipReason::BadTimestamp,
            SkipReason::InvalidNumber,
        ] {
            assert_eq!(stats.skipped.get(&reason), Some(&1), "{reason}");
        }
    }
}

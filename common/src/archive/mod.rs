//! Reader for Sensor.Community daily archive files: `;`-separated, one sensor per file, header
//! `sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2`, no country column.
//!
//! Columns are found by header name, not position, because archive layouts differ between sensor types. Rows go
//! through the same rules as feed records, so a reading from an archive is the same reading as from the feed.
//!
//! The reader splits lines itself ([`lines`]) so that memory stays at one capped line whatever the input, and
//! damage ends the read as [`ArchiveDamage`] with its byte offset, like the feed reader's `FeedDamage`: every row
//! before it is kept. Archive files are unquoted: a `;` always separates cells.

use std::fmt;
use std::io::Read;
use std::ops::Range;

use crate::reading::{optional_f64, pm_value, ParseStats, Reading, RecordFields, SkipReason};
use crate::time::parse_feed_timestamp;

mod lines;

pub use lines::{MAX_LINE, READ_CHUNK};

use lines::Lines;

/// The archive could not be read at all: nothing before its header is a row.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive header lacks the {0:?} column")]
    MissingColumn(&'static str),
    #[error("the archive is empty")]
    Empty,
    #[error("archive header could not be read: {0}")]
    Damaged(ArchiveDamage),
}

/// How far the reader got before the input stopped being an archive file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("archive damaged at byte {offset}: {kind}")]
pub struct ArchiveDamage {
    /// Byte offset (from the start of the input) of the first line not read as a row.
    pub offset: u64,
    pub kind: ArchiveDamageKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveDamageKind {
    /// A line is longer than [`MAX_LINE`].
    LineTooLong,
    /// The input ends inside a row: its last line has no newline.
    Truncated,
    /// Reading the input failed (for an HTTP body: the connection closed before its Content-Length).
    Io(String),
}

impl fmt::Display for ArchiveDamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveDamageKind::LineTooLong => {
                write!(f, "a line is longer than the {} KiB cap", MAX_LINE >> 10)
            }
            ArchiveDamageKind::Truncated => {
                f.write_str("the archive ends inside a row (truncated)")
            }
            ArchiveDamageKind::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

struct Columns {
    sensor_id: usize,
    sensor_type: Option<usize>,
    location: Option<usize>,
    lat: Option<usize>,
    lon: Option<usize>,
    timestamp: usize,
    p1: Option<usize>,
    p2: Option<usize>,
}

/// Reads one archive file, yielding readings; skips are counted in [`ArchiveReader::stats`], damage is reported
/// by [`ArchiveReader::damage`] once the iterator ends.
pub struct ArchiveReader<R: Read> {
    lines: Lines<R>,
    columns: Columns,
    /// Where each cell of the current row lies in it; kept to reuse its allocation.
    cells: Vec<Range<usize>>,
    stats: ParseStats,
    damage: Option<ArchiveDamage>,
    /// The country to give every reading (archives carry none); empty when unknown.
    country: String,
}

impl<R: Read> ArchiveReader<R> {
    pub fn new(input: R, country: &str) -> Result<Self, ArchiveError> {
        let mut lines = Lines::new(input);
        let header = {
            let (_, line) = lines
                .next_line()
                .map_err(ArchiveError::Damaged)?
                .ok_or(ArchiveError::Empty)?;
            // A UTF-8 byte-order mark is harmless; the csv crate skipped it too.
            let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            String::from_utf8_lossy(line).into_owned()
        };
        let names: Vec<&str> = header.split(';').map(str::trim).collect();
        let find = |name: &str| names.iter().position(|h| h.eq_ignore_ascii_case(name));
        let columns = Columns {
            sensor_id: find("sensor_id").ok_or(ArchiveError::MissingColumn("sensor_id"))?,
            sensor_type: find("sensor_type"),
            location: find("location"),
            lat: find("lat"),
            lon: find("lon"),
            timestamp: find("timestamp").ok_or(ArchiveError::MissingColumn("timestamp"))?,
            p1: find("P1"),
            p2: find("P2"),
        };
        Ok(ArchiveReader {
            lines,
            columns,
            cells: Vec::with_capacity(names.len()),
            stats: ParseStats::default(),
            damage: None,
            country: country.to_ascii_uppercase(),
        })
    }

    pub fn stats(&self) -> &ParseStats {
        &self.stats
    }

    /// The damage that ended the read early, if any. Meaningful once the iterator has returned `None`.
    pub fn damage(&self) -> Option<&ArchiveDamage> {
        self.damage.as_ref()
    }

    pub fn into_parts(self) -> (ParseStats, Option<ArchiveDamage>) {
        (self.stats, self.damage)
    }
}

impl<R: Read> Iterator for ArchiveReader<R> {
    type Item = Reading;

    fn next(&mut self) -> Option<Reading> {
        if self.damage.is_some() {
            return None;
        }
        loop {
            let line = match self.lines.next_line() {
                Ok(Some((_, line))) => line,
                Ok(None) => return None,
                Err(damage) => {
                    self.damage = Some(damage);
                    return None;
                }
            };
            // Blank lines are not records (the csv crate skipped them too).
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.stats.records_seen += 1;
            // A row that is not UTF-8 is one malformed record, not the end.
            let Ok(text) = std::str::from_utf8(line) else {
                self.stats.skip(SkipReason::MalformedRecord);
                continue;
            };
            split_cells(text, &mut self.cells);
            let outcome = row_fields(text, &self.cells, &self.columns, &self.country)
                .ok_or(SkipReason::MalformedRecord)
                .and_then(|fields| fields.into_reading(&mut self.stats));
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

/// Records where each `;`-separated cell of `row` lies.
fn split_cells(row: &str, cells: &mut Vec<Range<usize>>) {
    cells.clear();
    let mut start = 0;
    for end in memchr::memchr_iter(b';', row.as_bytes()) {
        cells.push(start..end);
        start = end + 1;
    }
    cells.push(start..row.len());
}

/// The fields of one row, or `None` when it is too short to hold a timestamp.
fn row_fields<'a>(
    row: &'a str,
    cells: &[Range<usize>],
    columns: &Columns,
    country: &'a str,
) -> Option<RecordFields<'a>> {
    // `;` is ASCII, so every range lies on character boundaries.
    let cell = |i: Option<usize>| {
        i.and_then(|i| cells.get(i))
            .and_then(|r| row.get(r.clone()))
            .map(str::trim)
    };
    let pm = |i: Option<usize>, is_pm10: bool| {
        cell(i)
            .filter(|t| !t.is_empty())
            .map(|t| pm_value(t, is_pm10))
    };
    let timestamp = cell(Some(columns.timestamp))?;
    Some(RecordFields {
        id: None,
        sensor_id: cell(Some(columns.sensor_id)).and_then(|t| t.parse().ok()),
        sensor_type: cell(columns.sensor_type).unwrap_or(""),
        location_id: cell(columns.location).and_then(|t| t.parse().ok()),
        latitude: cell(columns.lat).and_then(optional_f64),
        longitude: cell(columns.lon).and_then(optional_f64),
        altitude: None,
        country,
        indoor: None,
        timestamp: parse_feed_timestamp(timestamp),
        pm10: pm(columns.p1, true),
        pm25: pm(columns.p2, false),
    })
}

/// Reads a whole archive from `input`: the readings, the counts, and any damage.
pub fn read_archive<R: Read>(
    input: R,
    country: &str,
) -> Result<(Vec<Reading>, ParseStats, Option<ArchiveDamage>), ArchiveError> {
    let mut reader = ArchiveReader::new(input, country)?;
    let readings: Vec<Reading> = reader.by_ref().collect();
    let (stats, damage) = reader.into_parts();
    Ok((readings, stats, damage))
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

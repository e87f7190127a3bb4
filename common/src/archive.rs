//! Reader for Sensor.Community daily archive files: `;`-separated, one sensor per file, header
//! `sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2`, no country column.
//!
//! Columns are found by header name, not position, because archive layouts differ between sensor types. Rows go
//! through the same rules as feed records, so a reading from an archive is the same reading as from the feed.

use std::io::Read;

use crate::reading::{optional_f64, pm_value, ParseStats, Reading, RecordFields, SkipReason};
use crate::time::parse_feed_timestamp;

/// The archive has a header naming none of the columns airq needs.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive header lacks the {0:?} column")]
    MissingColumn(&'static str),
    #[error("archive header could not be read: {0}")]
    Header(#[from] csv::Error),
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

/// Reads one archive file, yielding readings; skips are counted in [`ArchiveReader::stats`].
pub struct ArchiveReader<R: Read> {
    rows: csv::Reader<R>,
    columns: Columns,
    record: csv::StringRecord,
    stats: ParseStats,
    /// The country to give every reading (archives carry none); empty when unknown.
    country: String,
}

impl<R: Read> ArchiveReader<R> {
    pub fn new(input: R, country: &str) -> Result<Self, ArchiveError> {
        let mut rows = csv::ReaderBuilder::new()
            .delimiter(b';')
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(input);
        let header = rows.headers()?.clone();
        let find = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
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
            rows,
            columns,
            record: csv::StringRecord::new(),
            stats: ParseStats::default(),
            country: country.to_ascii_uppercase(),
        })
    }

    pub fn stats(&self) -> &ParseStats {
        &self.stats
    }

    pub fn into_stats(self) -> ParseStats {
        self.stats
    }
}

impl<R: Read> Iterator for ArchiveReader<R> {
    type Item = Reading;

    fn next(&mut self) -> Option<Reading> {
        loop {
            match self.rows.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {}
                // A row that is not valid CSV (bad UTF-8, say) is one malformed record, not the end.
                Err(_) => {
                    self.stats.records_seen += 1;
                    self.stats.skip(SkipReason::MalformedRecord);
                    continue;
                }
            }
            self.stats.records_seen += 1;
            let cell = |i: Option<usize>| i.and_then(|i| self.record.get(i));
            let pm = |i: Option<usize>, is_pm10: bool| {
                cell(i)
                    .filter(|t| !t.is_empty())
                    .map(|t| pm_value(t, is_pm10))
            };
            if cell(Some(self.columns.timestamp)).is_none() {
                self.stats.skip(SkipReason::MalformedRecord);
                continue;
            }
            let fields = RecordFields {
                id: None,
                sensor_id: cell(Some(self.columns.sensor_id)).and_then(|t| t.parse().ok()),
                sensor_type: cell(self.columns.sensor_type).unwrap_or(""),
                location_id: cell(self.columns.location).and_then(|t| t.parse().ok()),
                latitude: cell(self.columns.lat).and_then(optional_f64),
                longitude: cell(self.columns.lon).and_then(optional_f64),
                altitude: None,
                country: &self.country,
                indoor: None,
                timestamp: cell(Some(self.columns.timestamp)).and_then(parse_feed_timestamp),
                pm10: pm(self.columns.p1, true),
                pm25: pm(self.columns.p2, false),
            };
            match fields.into_reading(&mut self.stats) {
                Ok(reading) => {
                    self.stats.readings += 1;
                    return Some(reading);
                }
                Err(reason) => self.stats.skip(reason),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str =
        "sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n\
        15092;SDS011;7647;56.963;-2.211;2019-05-06T00:01:17;6.80;;;2.73;;\n\
        15092;SDS011;7647;56.963;-2.211;2019-05-06T00:03:45;;;;;;\n\
        15092;SDS011;7647;56.963;-2.211;not-a-time;8.57;;;2.93;;\n\
        15092;SDS011;7647;56.963;-2.211;2019-05-06T00:06:13;1999.9;;;999.9;;\n\
        15092;SDS011;7647;56.963;-2.211;2019-05-06T00:08:41;12.5;;;bad;;\n";

    #[test]
    fn reads_rows_by_header_and_counts_skips() {
        let mut reader = ArchiveReader::new(SAMPLE.as_bytes(), "gb").expect("header");
        let readings: Vec<Reading> = reader.by_ref().collect();
        assert_eq!(readings.len(), 2);
        let first = &readings[0];
        assert_eq!(first.sensor_id, 15092);
        assert_eq!(first.location_id, Some(7647));
        assert_eq!(first.latitude, Some(56.963));
        assert_eq!(first.pm10, Some(6.8));
        assert_eq!(first.pm25, Some(2.73));
        assert_eq!(first.country, "GB");
        assert_eq!(first.id, None);
        assert_eq!(readings[1].pm10, Some(12.5));
        assert_eq!(readings[1].pm25, None);
        let stats = reader.stats();
        assert_eq!(stats.records_seen, 5);
        assert_eq!(stats.skipped[&SkipReason::NoPmValue], 1);
        assert_eq!(stats.skipped[&SkipReason::BadTimestamp], 1);
        assert_eq!(stats.skipped[&SkipReason::SaturatedSensor], 1);
        assert_eq!(stats.dropped_values[&SkipReason::InvalidNumber], 1);
    }

    #[test]
    fn a_header_without_timestamp_is_an_error() {
        let err = ArchiveReader::new("sensor_id;P1\n1;2\n".as_bytes(), "").err();
        assert!(matches!(
            err,
            Some(ArchiveError::MissingColumn("timestamp"))
        ));
    }
}

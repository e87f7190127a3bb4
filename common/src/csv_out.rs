//! The CSV writer airq answered with before issue 13 (the csv crate, a `String` per cell, from `Reading`s): kept
//! as an independent reference for the answer encoder's CSV (the worker tests compare the two byte for byte) and
//! as the baseline of the encoder benchmark (`benches/encode.rs`). Answers are written by `answer::Encoder`.
//!
//! Header `id,sensor_id,...,aqi,band`; timestamps RFC 3339 UTC; an empty cell where a value is missing; numbers
//! in Rust's shortest round-trip form (so `"20.40"` in the feed is written `20.4`, identically by every backend).
//! A text cell that would start a spreadsheet formula is written with a `'` before it; numbers never are.

use std::fmt::Write as _;

use crate::reading::Reading;
use crate::time::format_rfc3339;

/// The header row's columns, in order.
pub const COLUMNS: [&str; 14] = [
    "id",
    "sensor_id",
    "sensor_type",
    "location_id",
    "latitude",
    "longitude",
    "altitude",
    "country",
    "indoor",
    "timestamp",
    "pm10",
    "pm25",
    "aqi",
    "band",
];

/// Encodes readings into CSV chunks. The csv crate does the quoting (a sensor type with a comma stays one cell).
pub struct CsvEncoder {
    writer: csv::Writer<Vec<u8>>,
    cells: [String; 14],
}

impl Default for CsvEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvEncoder {
    pub fn new() -> Self {
        CsvEncoder {
            writer: new_writer(),
            cells: Default::default(),
        }
    }

    /// The header row as bytes.
    pub fn header() -> Vec<u8> {
        let mut enc = CsvEncoder::new();
        enc.write_header();
        enc.take()
    }

    pub fn write_header(&mut self) {
        // Writing to a Vec cannot fail.
        let _ = self.writer.write_record(COLUMNS);
    }

    pub fn write(&mut self, r: &Reading) {
        for cell in &mut self.cells {
            cell.clear();
        }
        let [id, sensor_id, sensor_type, location_id, lat, lon, alt, country, indoor, ts, pm10, pm25, aqi, band] =
            &mut self.cells;
        opt(id, r.id);
        let _ = write!(sensor_id, "{}", r.sensor_id);
        text(sensor_type, &r.sensor_type);
        opt(location_id, r.location_id);
        opt(lat, r.latitude);
        opt(lon, r.longitude);
        opt(alt, r.altitude);
        text(country, &r.country);
        opt(indoor, r.indoor.map(u8::from));
        ts.push_str(&format_rfc3339(r.timestamp));
        opt(pm10, r.pm10);
        opt(pm25, r.pm25);
        let _ = write!(aqi, "{}", r.aqi);
        text(band, r.band.as_str());
        let _ = self.writer.write_record(&self.cells);
    }

    /// Takes the bytes written so far, leaving the encoder ready for more rows.
    pub fn take(&mut self) -> Vec<u8> {
        // csv::Writer has no `get_mut`; swapping in a fresh writer is cheap next to a page of rows.
        std::mem::replace(&mut self.writer, new_writer())
            .into_inner()
            .unwrap_or_default()
    }

    /// Bytes buffered and not yet taken.
    pub fn buffered(&self) -> usize {
        self.writer.get_ref().len()
    }
}

fn new_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(64 << 10))
}

/// First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Writes a text cell, with a `'` before it when it would start a formula: a stored value (a sensor type from the
/// feed, a country stored before countries were validated) must not run as a formula in the spreadsheet that
/// opens the answer. Only text cells go through here: a number such as `-33.9` (latitude) is written as it is.
fn text(cell: &mut String, value: &str) {
    if value.starts_with(FORMULA_STARTS) {
        cell.push('\'');
    }
    cell.push_str(value);
}

fn opt<T: std::fmt::Display>(cell: &mut String, value: Option<T>) {
    if let Some(v) = value {
        let _ = write!(cell, "{v}");
    }
}

/// Encodes a whole answer: header and rows.
pub fn encode(readings: &[Reading]) -> Vec<u8> {
    let mut enc = CsvEncoder::new();
    enc.write_header();
    for r in readings {
        enc.write(r);
    }
    enc.take()
}

/// Encodes a page of readings as CSV rows (no header): the one page→CSV step of the direct and queued paths, so
/// both produce the same bytes.
pub fn encode_rows(encoder: &mut CsvEncoder, readings: &[Reading]) -> Vec<u8> {
    for reading in readings {
        encoder.write(reading);
    }
    encoder.take()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Band;

    #[test]
    fn header_alone_for_an_empty_answer() {
        let out = String::from_utf8(encode(&[])).expect("utf8");
        assert_eq!(
            out,
            "id,sensor_id,sensor_type,location_id,latitude,longitude,altitude,country,indoor,timestamp,pm10,pm25,aqi,band\n"
        );
    }

    #[test]
    fn rows_have_empty_cells_and_quoting() {
        let r = Reading {
            id: None,
            sensor_id: 7,
            sensor_type: "SDS,011".into(),
            location_id: Some(3),
            latitude: Some(52.22),
            longitude: None,
            altitude: None,
            country: "NL".into(),
            indoor: Some(false),
            timestamp: 1_555_424_572,
            pm10: Some(20.4),
            pm25: None,
            aqi: 2,
            band: Band::Low,
        };
        let out = String::from_utf8(encode(&[r])).expect("utf8");
        let row = out.lines().nth(1).expect("row");
        assert_eq!(
            row,
            ",7,\"SDS,011\",3,52.22,,,NL,0,2019-04-16T14:22:52Z,20.4,,2,Low"
        );
    }

    fn reading(sensor_type: &str, country: &str) -> Reading {
        Reading {
            id: Some(1),
            sensor_id: 7,
            sensor_type: sensor_type.into(),
            location_id: None,
            latitude: None,
            longitude: None,
            altitude: None,
            country: country.into(),
            indoor: None,
            timestamp: 1_555_424_572,
            pm10: Some(20.4),
            pm25: None,
            aqi: 2,
            band: Band::Low,
        }
    }

    /// The cells of the one row of `encode(&[r])`, unquoted.
    fn cells(r: Reading) -> Vec<String> {
        let out = encode(&[r]);
        let mut rows = csv::Reader::from_reader(&out[..]);
        let row = rows.records().next().expect("a row").expect("csv");
        row.iter().map(str::to_string).collect()
    }

    /// Issue 10: a text cell that a spreadsheet would run as a formula (OWASP CSV injection: a first character of
    /// `=`, `+`, `-`, `@`, tab or carriage return) is written with a `'` before it, so it is shown as text.
    #[test]
    fn text_cells_that_start_a_formula_are_neutralised() {
        let cases = [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("SDS011", "SDS011"),
            ("a=b", "a=b"),
            ("", ""),
        ];
        for (text, written) in cases {
            let row = cells(reading(text, text));
            assert_eq!(row[2], written, "sensor_type {text:?}");
            assert_eq!(row[7], written, "country {text:?}");
        }
    }

    /// Numbers are never altered: coordinates and altitude may be negative, and `-33.9` is a number, not a
    /// formula.
    #[test]
    fn negative_numbers_are_written_unchanged() {
        for (lat, lon, alt) in [
            (-33.9, -70.65, -5.0),
            (-0.5, -180.0, -430.5),
            (-90.0, -0.000_001, -1e-7),
        ] {
            let row = cells(Reading {
                latitude: Some(lat),
                longitude: Some(lon),
                altitude: Some(alt),
                ..reading("SDS011", "CL")
            });
            assert_eq!(
                row[4..7],
                [lat.to_string(), lon.to_string(), alt.to_string()],
                "{lat} {lon} {alt}"
            );
            assert!(row[4..7].iter().all(|c| c.starts_with('-')));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any finite coordinates and altitude, negative ones included, are written as their number, untouched
        /// by the formula neutralisation.
        #[test]
        fn numbers_are_never_neutralised(
            lat in -90.0..=90.0f64,
            lon in -180.0..=180.0f64,
            // Below sea level (the Dead Sea shore, a mine) to above any summit.
            alt in -12_000.0..=9_000.0f64,
        ) {
            let row = cells(Reading {
                latitude: Some(lat),
                longitude: Some(lon),
                altitude: Some(alt),
                ..reading("SDS011", "CL")
            });
            proptest::prop_assert_eq!(&row[4..7], [lat.to_string(), lon.to_string(), alt.to_string()]);
        }
    }
}

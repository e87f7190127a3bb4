//! The answer formats: CSV, JSON (an array of objects), NDJSON, GeoJSON (a FeatureCollection of points) and the
//! legacy system's CSV, all written from typed cells into one reused buffer, without an allocation per row.
//!
//! Every answer, direct or queued, goes through [`Encoder`], so both paths produce the same bytes. Numbers are
//! written in Rust's shortest round-trip form in every format (so `"20.40"` in the feed is `20.4`), times as RFC
//! 3339 UTC (the legacy CSV: the feed's `2019-04-16 14:22:52`), a missing value as an empty CSV cell or `null`.

use std::io::Write as _;

use serde::{Deserialize, Serialize};

use crate::time::{write_time, EpochSeconds};

/// One value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Num(f64),
    Text(&'a str),
    Time(EpochSeconds),
    Bool(bool),
}

/// The formats an answer can take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    #[default]
    Csv,
    Json,
    Ndjson,
    Geojson,
    LegacyCsv,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Csv,
        Format::Json,
        Format::Ndjson,
        Format::Geojson,
        Format::LegacyCsv,
    ];

    /// The name a client writes (`format=geojson`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Geojson => "geojson",
            Format::LegacyCsv => "legacy-csv",
        }
    }

    pub fn is_default(&self) -> bool {
        *self == Format::Csv
    }

    pub fn parse(text: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The media type of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv | Format::LegacyCsv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Geojson => "application/geo+json",
        }
    }

    /// The file extension of a download.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv | Format::LegacyCsv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Geojson => "geojson",
        }
    }

    /// The format an `Accept` header asks for, by RFC 9110 preference (`q`), among the ones airq writes; `None`
    /// when it names none of them (or only `*/*`: the default then).
    pub fn from_accept(accept: &str) -> Option<Format> {
        let mut best: Option<(f32, Format)> = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "text/csv" => Format::Csv,
                "application/json" => Format::Json,
                "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                    Format::Ndjson
                }
                "application/geo+json" => Format::Geojson,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map(|(_, f)| f)
    }
}

/// The columns of an answer: names, and which two hold a point (latitude, longitude) for GeoJSON.
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    pub names: &'static [&'static str],
    pub point: Option<(usize, usize)>,
}

/// Writes rows of one shape in one format. `begin` once, `row` per row, `end` once.
pub struct Encoder {
    format: Format,
    columns: Columns,
    rows: u64,
    /// The last second written and its text: rows of a page mostly share a handful of seconds.
    last_time: Option<(EpochSeconds, [u8; 20], usize)>,
}

/// First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

impl Encoder {
    pub fn new(format: Format, columns: Columns) -> Encoder {
        Encoder {
            format,
            columns,
            rows: 0,
            last_time: None,
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The start of the answer: the CSV header, `[`, or the FeatureCollection's opening.
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        match self.format {
            Format::Csv | Format::LegacyCsv => {
                for (i, name) in self.columns.names.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(name.as_bytes());
                }
                out.push(b'\n');
            }
            Format::Json => out.push(b'['),
            Format::Ndjson => {}
            Format::Geojson => {
                out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#)
            }
        }
    }

    /// One row; `cells` in the order of the columns.
    pub fn row(&mut self, out: &mut Vec<u8>, cells: &[Cell<'_>]) {
        let first = self.rows == 0;
        self.rows += 1;
        match self.format {
            Format::Csv | Format::LegacyCsv => {
                for (i, cell) in cells.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.csv_cell(out, *cell);
                }
                out.push(b'\n');
            }
            Format::Json | Format::Ndjson => {
                if self.format == Format::Json && !first {
                    out.push(b',');
                }
                self.object(out, cells, None);
                if self.format == Format::Ndjson {
                    out.push(b'\n');
                }
            }
            Format::Geojson => {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"type":"Feature","geometry":"#);
                let point = self.columns.point.and_then(|(lat, lon)| {
                    match (cells.get(lat).copied(), cells.get(lon).copied()) {
                        (Some(Cell::Num(lat)), Some(Cell::Num(lon))) => Some((lat, lon)),
                        _ => None,
                    }
                });
                match point {
                    // RFC 7946: longitude first.
                    Some((lat, lon)) => {
                        let _ = write!(out, r#"{{"type":"Point","coordinates":[{lon},{lat}]}}"#);
                    }
                    None => out.extend_from_slice(b"null"),
                }
                out.extend_from_slice(br#","properties":"#);
                self.object(out, cells, self.columns.point);
                out.push(b'}');
            }
        }
    }

    /// The end of the answer.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        match self.format {
            Format::Json => out.push(b']'),
            Format::Geojson => out.extend_from_slice(b"]}"),
            Format::Csv | Format::LegacyCsv | Format::Ndjson => {}
        }
    }

    fn object(&mut self, out: &mut Vec<u8>, cells: &[Cell<'_>], skip: Option<(usize, usize)>) {
        out.push(b'{');
        let mut first = true;
        for (i, (name, cell)) in self.columns.names.iter().zip(cells).enumerate() {
            if skip.is_some_and(|(a, b)| i == a || i == b) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            self.json_value(out, *cell);
        }
        out.push(b'}');
    }

    fn json_value(&mut self, out: &mut Vec<u8>, cell: Cell<'_>) {
        match cell {
            Cell::Null => out.extend_from_slice(b"null"),
            Cell::Int(v) => write_int(out, v),
            Cell::UInt(v) => write_uint(out, v),
            Cell::Num(v) if v.is_finite() => write_num(out, v),
            Cell::Num(_) => out.extend_from_slice(b"null"),
            Cell::Bool(v) => out.extend_from_slice(if v { b"true" } else { b"false" }),
            Cell::Text(text) => json_string(out, text),
            Cell::Time(ts) => {
                out.push(b'"');
                self.time(out, ts);
                out.push(b'"');
            }
        }
    }

    fn csv_cell(&mut self, out: &mut Vec<u8>, cell: Cell<'_>) {
        match cell {
            Cell::Null => {}
            Cell::Int(v) => write_int(out, v),
            Cell::UInt(v) => write_uint(out, v),
            Cell::Num(v) => write_num(out, v),
            Cell::Bool(v) => out.push(if v { b'1' } else { b'0' }),
            Cell::Time(ts) => self.time(out, ts),
            Cell::Text(text) => csv_text(out, text),
        }
    }

    fn time(&mut self, out: &mut Vec<u8>, ts: EpochSeconds) {
        if let Some((last, text, len)) = &self.last_time {
            if *last == ts {
                out.extend_from_slice(&text[..*len]);
                return;
            }
        }
        let at = out.len();
        if self.format == Format::LegacyCsv {
            write_time(ts, b' ', false, out);
        } else {
            write_time(ts, b'T', true, out);
        }
        let written = &out[at..];
        if written.len() <= 20 {
            let mut text = [0u8; 20];
            text[..written.len()].copy_from_slice(written);
            self.last_time = Some((ts, text, written.len()));
        }
    }
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn write_uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A number in Rust's `Display` form (shortest round-trip, never an exponent: `20.4`, `241`, `-0.5`), which every
/// answer has always used. `fmt` was the encoder's largest cost in a profile; most numbers in an answer are short
/// decimals, written here with integer arithmetic ([`write_decimal`]), the rest by `Display`. (`ryu` was tried
/// and rejected: on ties between two shortest forms it picks other digits than `Display`, which a property test
/// found, and an answer's bytes must not change.)
fn write_num(out: &mut Vec<u8>, v: f64) {
    if !write_decimal(out, v) {
        let _ = write!(out, "{v}");
    }
}

/// Writes `v` with integer arithmetic when it is exactly a decimal of at most four places (what the feed's
/// values, coordinates and altitudes are: `20.4`, `48.7758`, `241`), which is most of every answer's numbers;
/// returns false, writing nothing, otherwise.
///
/// Why this is `Display`'s output: below 1e11 two decimals of four places differ by more than the spacing of
/// doubles there, so at most one of them parses to `v`; if `n / 10^k` (correctly rounded, as parsing is) equals
/// `v`, that decimal is the one, and with its trailing zeros removed it is the shortest that round-trips. The
/// property test below holds it to `Display` for random doubles and for feed-like values.
fn write_decimal(out: &mut Vec<u8>, v: f64) -> bool {
    const SCALE: f64 = 10_000.0;
    const INT_SCALE: u64 = 10_000;
    if v.is_nan() || v.abs() >= 1e11 || (v == 0.0 && v.is_sign_negative()) {
        return false;
    }
    // Rounded to the nearest integer without `f64::round` (a libm call per number): |scaled| < 1e15 < 2^53, so
    // the truncating cast is exact and the fraction left is exact too.
    let scaled = v.abs() * SCALE;
    let mut n = scaled as u64;
    if scaled - n as f64 >= 0.5 {
        n += 1;
    }
    if n as f64 / SCALE != v.abs() {
        return false;
    }
    if v < 0.0 {
        out.push(b'-');
    }
    out.extend_from_slice(itoa::Buffer::new().format(n / INT_SCALE).as_bytes());
    let mut fraction = n % INT_SCALE;
    if fraction != 0 {
        let mut digits = [b'0'; 5];
        digits[0] = b'.';
        for i in (1..5).rev() {
            digits[i] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        let mut len = 5;
        while digits[len - 1] == b'0' {
            len -= 1;
        }
        out.extend_from_slice(&digits[..len]);
    }
    true
}

/// A CSV text cell: quoted when it holds a comma, a quote or a newline (as the csv crate does with a `\n`
/// terminator, so the bytes are the ones airq always wrote), and with a `'` before it when it would start a
/// spreadsheet formula: a stored value must not run as a formula in the spreadsheet that opens the answer.
/// Only text goes through here: a number such as `-33.9` is written as it is.
fn csv_text(out: &mut Vec<u8>, text: &str) {
    let neutralise = text.starts_with(FORMULA_STARTS);
    let quote = text.bytes().any(|b| matches!(b, b',' | b'"' | b'\n'));
    if quote {
        out.push(b'"');
    }
    if neutralise {
        out.push(b'\'');
    }
    for b in text.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

/// A JSON string with the escapes RFC 8259 requires.
fn json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => {
                let _ = i;
                out.push(b)
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: Columns = Columns {
        names: &["name", "latitude", "longitude", "n", "t", "ok"],
        point: Some((1, 2)),
    };

    fn encode(format: Format, rows: &[Vec<Cell<'_>>]) -> String {
        let mut e = Encoder::new(format, COLS);
        let mut out = Vec::new();
        e.begin(&mut out);
        for r in rows {
            e.row(&mut out, r);
        }
        e.end(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    fn rows() -> Vec<Vec<Cell<'static>>> {
        vec![
            vec![
                Cell::Text("a,\"b\"\n=c"),
                Cell::Num(48.5),
                Cell::Num(-9.25),
                Cell::UInt(3),
                Cell::Time(1_555_424_572),
                Cell::Bool(true),
            ],
            vec![
                Cell::Text("=x"),
                Cell::Null,
                Cell::Null,
                Cell::Int(-1),
                Cell::Time(0),
                Cell::Null,
            ],
        ]
    }

    #[test]
    fn csv_matches_the_csv_crate_and_neutralises_formulas() {
        let out = encode(Format::Csv, &rows());
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let got: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.expect("csv").iter().map(str::to_string).collect())
            .collect();
        assert_eq!(
            got[0],
            [
                "a,\"b\"\n=c",
                "48.5",
                "-9.25",
                "3",
                "2019-04-16T14:22:52Z",
                "1"
            ]
        );
        assert_eq!(got[1], ["'=x", "", "", "-1", "1970-01-01T00:00:00Z", ""]);
    }

    #[test]
    fn json_ndjson_and_geojson_are_valid_and_typed() {
        let json: serde_json::Value =
            serde_json::from_str(&encode(Format::Json, &rows())).expect("json");
        assert_eq!(json[0]["name"], "a,\"b\"\n=c");
        assert_eq!(json[0]["n"], 3);
        assert_eq!(json[0]["ok"], true);
        assert_eq!(json[1]["latitude"], serde_json::Value::Null);
        assert_eq!(json[0]["t"], "2019-04-16T14:22:52Z");
        let nd = encode(Format::Ndjson, &rows());
        assert_eq!(nd.lines().count(), 2);
        for line in nd.lines() {
            let _: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        }
        let geo: serde_json::Value =
            serde_json::from_str(&encode(Format::Geojson, &rows())).expect("geojson");
        assert_eq!(geo["type"], "FeatureCollection");
        assert_eq!(
            geo["features"][0]["geometry"]["coordinates"],
            serde_json::json!([-9.25, 48.5])
        );
        assert_eq!(geo["features"][0]["properties"]["n"], 3);
        assert!(geo["features"][0]["properties"].get("latitude").is_none());
        assert_eq!(geo["features"][1]["geometry"], serde_json::Value::Null);
        for f in [Format::Json, Format::Geojson] {
            let empty: serde_json::Value = serde_json::from_str(&encode(f, &[])).expect("empty");
            assert!(empty.is_array() || empty["features"].as_array().is_some_and(Vec::is_empty));
        }
        assert_eq!(encode(Format::Ndjson, &[]), "");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// The fast number writer writes exactly what `Display` writes, for any finite f64 and for the values
        /// a reading holds (two decimals, coordinates, altitudes).
        #[test]
        fn numbers_are_written_as_display_writes_them(
            bits in proptest::prelude::any::<u64>(),
            hundredths in -100_000_000i64..100_000_000,
        ) {
            for v in [
                f64::from_bits(bits),
                hundredths as f64 / 100.0,
                hundredths as f64 / 1e4,
                hundredths as f64 / 1e7,
                -(hundredths as f64) / 1e3,
            ] {
                if v.is_finite() {
                    let mut out = Vec::new();
                    write_num(&mut out, v);
                    proptest::prop_assert_eq!(String::from_utf8(out).expect("utf8"), v.to_string());
                }
            }
        }
    }

    #[test]
    fn edge_numbers_match_display() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            20.4,
            0.05,
            -0.0001,
            48.7758,
            99999999999.99,
            1e11,
            0.1 + 0.2,
            1e-5,
            9.99e-6,
            1e15,
            1e16,
            123456789012345.6,
            5e-324,
            f64::MAX,
        ] {
            let mut out = Vec::new();
            write_num(&mut out, v);
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                v.to_string(),
                "{v:e}"
            );
        }
        let mut out = Vec::new();
        write_int(&mut out, -42);
        write_uint(&mut out, u64::MAX);
        assert_eq!(out, format!("-42{}", u64::MAX).as_bytes());
    }

    #[test]
    fn control_characters_are_escaped_in_json() {
        let mut out = Vec::new();
        json_string(&mut out, "a\u{1}\t\"\\");
        let back: String = serde_json::from_slice(&out).expect("json");
        assert_eq!(back, "a\u{1}\t\"\\");
    }

    #[test]
    fn accept_picks_the_preferred_known_format() {
        assert_eq!(Format::from_accept("application/json"), Some(Format::Json));
        assert_eq!(
            Format::from_accept("text/csv;q=0.5, application/geo+json;q=0.9"),
            Some(Format::Geojson)
        );
        assert_eq!(Format::from_accept("*/*"), None);
        assert_eq!(
            Format::from_accept("text/html, application/x-ndjson;q=0.1"),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::from_accept("application/json;q=0"), None);
        assert_eq!(Format::parse("LEGACY-CSV"), Some(Format::LegacyCsv));
    }
}

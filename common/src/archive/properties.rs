//! Property tests of the archive reader (issue 10): any bytes are read without a panic, a file cut anywhere in
//! a row is always damage at that row, and every row written is read back as the reading the rules make of it.
//! Inputs arrive in reads of arbitrary sizes, so line ends fall on every buffer boundary.

use std::io::Read;

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::index::{daqi, Band};
use crate::reading::is_particle_counter;
use crate::time::{format_rfc3339, EpochSeconds};

const HEADER: &str =
    "sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n";

/// Cases per property: enough to find boundary bugs, few enough that the suite stays fast.
const CASES: u32 = 256;

/// Hands out its data in reads of the given sizes, cycled.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl<'a> Chunked<'a> {
    fn new(data: &'a [u8], sizes: Vec<usize>) -> Self {
        Chunked {
            data,
            sizes,
            next: 0,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes.get(self.next % self.sizes.len().max(1));
        self.next += 1;
        let n = size
            .copied()
            .unwrap_or(1)
            .max(1)
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// One archive row that the rules keep.
#[derive(Debug, Clone)]
struct Row {
    sensor_id: u64,
    sensor_type: String,
    location_id: Option<u64>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    timestamp: EpochSeconds,
    pm10: Option<f64>,
    pm25: Option<f64>,
}

impl Row {
    fn line(&self, newline: &str) -> String {
        let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let timestamp = format_rfc3339(self.timestamp);
        format!(
            "{};{};{};{};{};{};{};;;{};;{newline}",
            self.sensor_id,
            self.sensor_type,
            self.location_id.map(|v| v.to_string()).unwrap_or_default(),
            num(self.latitude),
            num(self.longitude),
            timestamp.trim_end_matches('Z'),
            num(self.pm10),
            num(self.pm25),
        )
    }

    fn reading(&self, country: &str) -> Reading {
        let aqi = daqi(self.pm25, self.pm10).expect("a row has a PM value");
        Reading {
            id: None,
            sensor_id: self.sensor_id,
            sensor_type: self.sensor_type.clone(),
            location_id: self.location_id,
            latitude: self.latitude,
            longitude: self.longitude,
            altitude: None,
            country: country.to_ascii_uppercase(),
            indoor: None,
            timestamp: self.timestamp,
            pm10: self.pm10,
            pm25: self.pm25,
            aqi,
            band: Band::of_index(aqi),
        }
    }
}

fn sensor_type() -> impl Strategy<Value = String> {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    prop::collection::vec(prop::sample::select(CHARS), 1..12)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect::<String>())
        .prop_filter("particle counters are skipped", |t| !is_particle_counter(t))
}

fn row() -> impl Strategy<Value = Row> {
    (
        (any::<u64>(), sensor_type(), prop::option::of(any::<u64>())),
        prop::option::of(-90.0..=90.0f64),
        prop::option::of(-180.0..=180.0f64),
        // 1970 to 2100.
        0..4_102_444_800i64,
        prop::option::of(0.0..1900.0f64),
        prop::option::of(0.0..900.0f64),
    )
        .prop_filter("a kept row has a PM value", |r| {
            r.4.is_some() || r.5.is_some()
        })
        .prop_map(
            |(
                (sensor_id, sensor_type, location_id),
                latitude,
                longitude,
                timestamp,
                pm10,
                pm25,
            )| Row {
                sensor_id,
                sensor_type,
                location_id,
                latitude,
                longitude,
                timestamp,
                pm10,
                pm25,
            },
        )
}

/// A valid `--country`: none, or two ASCII letters of either case.
fn country() -> impl Strategy<Value = String> {
    let letter =
        prop::sample::select(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".as_slice());
    prop_oneof![
        Just(String::new()),
        (letter.clone(), letter).prop_map(|(a, b)| format!("{}{}", char::from(a), char::from(b))),
    ]
}

/// Bytes that look like an archive half of the time, so that every branch is reached, and arbitrary bytes the
/// other half. Each byte comes from one generated `u16` (the high byte chooses, the low byte is the value): several
/// times faster to generate than a choice between two strategies, which matters in debug builds.
fn archive_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    const CHARS: &[u8] = b"0123456789;;;.-T: \n\n\r";
    prop::collection::vec(any::<u16>(), 0..2048).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|pair| {
                let [choice, value] = pair.to_be_bytes();
                if choice < 128 {
                    CHARS[usize::from(value) % CHARS.len()]
                } else {
                    value
                }
            })
            .collect()
    })
}

fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..300, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Whatever the bytes, the reader does not panic, counts every record once, and reports damage within the
    /// input.
    #[test]
    fn any_bytes_are_read_without_panic(
        with_header in any::<bool>(),
        bytes in archive_ish_bytes(),
        sizes in read_sizes(),
    ) {
        let mut data = if with_header { HEADER.as_bytes().to_vec() } else { Vec::new() };
        data.extend_from_slice(&bytes);
        if let Ok(mut reader) = ArchiveReader::new(Chunked::new(&data, sizes), "gb") {
            let kept = reader.by_ref().count() as u64;
            let stats = reader.stats();
            prop_assert_eq!(stats.readings, kept);
            prop_assert_eq!(stats.records_seen, kept + stats.total_skipped());
            if let Some(damage) = reader.damage() {
                prop_assert!(damage.offset <= data.len() as u64, "{}", damage);
            }
        }
    }

    /// Cut anywhere after the header, a file keeps exactly the rows that ended before the cut; a cut inside a
    /// row is `Truncated` damage at that row's first byte, a cut at a row's end is no damage.
    #[test]
    fn a_cut_last_row_is_always_damage(
        rows in prop::collection::vec(row(), 1..20),
        at in any::<Index>(),
        sizes in read_sizes(),
    ) {
        let text: String = std::iter::once(HEADER.to_string())
            .chain(rows.iter().map(|r| r.line("\n")))
            .collect();
        let bytes = text.as_bytes();
        let cut = HEADER.len() + at.index(bytes.len() - HEADER.len() + 1);
        let (readings, _, damage) =
            read_archive(Chunked::new(&bytes[..cut], sizes), "").expect("the header is whole");
        let whole = bytes[HEADER.len()..cut].iter().filter(|b| **b == b'\n').count();
        let expected: Vec<Reading> = rows[..whole].iter().map(|r| r.reading("")).collect();
        prop_assert_eq!(readings, expected);
        if bytes[cut - 1] == b'\n' {
            prop_assert_eq!(damage, None);
        } else {
            let row_start = bytes[..cut].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            prop_assert_eq!(
                damage,
                Some(ArchiveDamage { offset: row_start as u64, kind: ArchiveDamageKind::Truncated })
            );
        }
    }

    /// Rows written in the archive format (with `\n` or `\r\n`) are read back as exactly the readings they
    /// describe, with the country given for the file.
    #[test]
    fn rows_round_trip(
        rows in prop::collection::vec(row(), 0..40),
        country in country(),
        crlf in any::<bool>(),
        sizes in read_sizes(),
    ) {
        let newline = if crlf { "\r\n" } else { "\n" };
        let text: String = std::iter::once(HEADER.to_string())
            .chain(rows.iter().map(|r| r.line(newline)))
            .collect();
        let (readings, stats, damage) =
            read_archive(Chunked::new(text.as_bytes(), sizes), &country).expect("header");
        prop_assert_eq!(damage, None);
        prop_assert_eq!(stats.records_seen, rows.len() as u64);
        prop_assert!(stats.dropped_values.is_empty(), "{:?}", stats.dropped_values);
        let expected: Vec<Reading> = rows.iter().map(|r| r.reading(&country)).collect();
        prop_assert_eq!(readings, expected);
    }
}

/// A cut inside the header: nothing is a row; an empty file is `Empty`, any other cut is `Truncated` at 0.
#[test]
fn a_cut_header_is_damage() {
    assert!(matches!(
        ArchiveReader::new(&b""[..], ""),
        Err(ArchiveError::Empty)
    ));
    for cut in 1..HEADER.len() {
        match ArchiveReader::new(&HEADER.as_bytes()[..cut], "") {
            Err(ArchiveError::Damaged(damage)) => assert_eq!(
                damage,
                ArchiveDamage {
                    offset: 0,
                    kind: ArchiveDamageKind::Truncated
                }
            ),
            Err(e) => panic!("cut {cut}: {e}"),
            Ok(_) => panic!("cut {cut}: a cut header was accepted"),
        }
    }
}

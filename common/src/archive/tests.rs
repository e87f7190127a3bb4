//! Tests of the archive reader.
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

const HEADER: &[u8] =
    b"sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n";
const ROW: &[u8] = b"15092;SDS011;7647;56.963;-2.211;2019-05-06T00:01:17;6.80;;;2.73;;\n";

/// Hands out `prefix`, then zero bytes for ever (`/dev/zero` given as an archive source), counting what it
/// served. A reader that keeps asking long after it should have given up is the bug under test, so serving
/// `HARD_STOP` bytes panics instead of letting a broken reader run the machine out of memory.
struct Endless {
    prefix: Vec<u8>,
    served: usize,
}

const HARD_STOP: usize = 16 << 20;

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        assert!(
            self.served < HARD_STOP,
            "the reader took {HARD_STOP} bytes without reporting damage"
        );
        let n = buf.len().min(HARD_STOP - self.served);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = self.prefix.get(self.served + i).copied().unwrap_or(0);
        }
        self.served += n;
        Ok(n)
    }
}

/// An endless line after good rows ends the read as damage at the line's first byte, having read no more than
/// the cap plus one buffer of it: memory stays bounded whatever the input.
#[test]
fn an_endless_line_is_damage_within_the_cap() {
    let prefix = [HEADER, ROW].concat();
    let mut input = Endless {
        prefix: prefix.clone(),
        served: 0,
    };
    let mut reader = ArchiveReader::new(&mut input, "gb").expect("header");
    let readings: Vec<Reading> = reader.by_ref().collect();
    assert_eq!(readings.len(), 1, "the good row before the damage is kept");
    assert_eq!(
        reader.damage(),
        Some(&ArchiveDamage {
            offset: prefix.len() as u64,
            kind: ArchiveDamageKind::LineTooLong
        })
    );
    drop(reader);
    assert!(
        input.served <= prefix.len() + MAX_LINE + READ_CHUNK,
        "read {} bytes",
        input.served
    );
}

/// The same for an endless header: the reader gives up at the cap instead of buffering the whole input.
#[test]
fn an_endless_header_is_damage_within_the_cap() {
    let mut input = Endless {
        prefix: Vec::new(),
        served: 0,
    };
    let damage = match ArchiveReader::new(&mut input, "") {
        Err(ArchiveError::Damaged(damage)) => damage,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("an endless header was accepted"),
    };
    assert_eq!(damage.offset, 0);
    assert_eq!(damage.kind, ArchiveDamageKind::LineTooLong);
    assert!(
        input.served <= MAX_LINE + READ_CHUNK,
        "read {}",
        input.served
    );
}

/// A line of exactly the cap is a row; one byte more is damage, and the read ends there.
#[test]
fn the_cap_is_inclusive() {
    let row = |len: usize| {
        let mut row = ROW[..ROW.len() - 1].to_vec();
        row.resize(len, b' ');
        row.push(b'\n');
        row
    };
    let at_cap = [HEADER, &row(MAX_LINE), ROW].concat();
    let mut reader = ArchiveReader::new(&at_cap[..], "").expect("header");
    assert_eq!(reader.by_ref().count(), 2);
    assert_eq!(reader.damage(), None);

    let over = [HEADER, ROW, &row(MAX_LINE + 1), ROW].concat();
    let mut reader = ArchiveReader::new(&over[..], "").expect("header");
    assert_eq!(reader.by_ref().count(), 1);
    assert_eq!(
        reader.damage(),
        Some(&ArchiveDamage {
            offset: (HEADER.len() + ROW.len()) as u64,
            kind: ArchiveDamageKind::LineTooLong
        })
    );
}

/// A file cut in the middle of its last row's number: the row is not read as `1`, it is damage at its offset.
#[test]
fn a_last_row_cut_mid_number_is_damage_not_a_reading() {
    let whole = [
        HEADER,
        ROW,
        b"15092;SDS011;7647;56.963;-2.211;2019-05-06T00:03:45;12.73;;;2.93;;\n",
    ]
    .concat();
    let cut = &whole[..HEADER.len()
        + ROW.len()
        + "15092;SDS011;7647;56.963;-2.211;2019-05-06T00:03:45;1".len()];
    let mut reader = ArchiveReader::new(cut, "gb").expect("header");
    let readings: Vec<Reading> = reader.by_ref().collect();
    assert_eq!(readings.len(), 1);
    assert_eq!(readings[0].pm10, Some(6.8));
    assert_eq!(
        reader.damage(),
        Some(&ArchiveDamage {
            offset: (HEADER.len() + ROW.len()) as u64,
            kind: ArchiveDamageKind::Truncated
        })
    );
    assert_eq!(
        reader.stats().records_seen,
        1,
        "the cut row is not a record"
    );
    // The whole file, ending in its newline, is not damaged.
    let mut reader = ArchiveReader::new(&whole[..], "gb").expect("header");
    assert_eq!(reader.by_ref().count(), 2);
    assert_eq!(reader.damage(), None);
}

/// Fails after handing out its data, as an HTTP body does when the connection closes before Content-Length.
struct FailsAfter<'a> {
    data: &'a [u8],
}

impl Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "end of file before message length reached",
            ));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A read error is damage at the first row not read whole; the rows before it are kept.
#[test]
fn a_read_error_is_damage() {
    let data = [HEADER, ROW, &ROW[..10]].concat();
    let mut reader = ArchiveReader::new(FailsAfter { data: &data }, "").expect("header");
    assert_eq!(reader.by_ref().count(), 1);
    let damage = reader.damage().expect("damage");
    assert_eq!(damage.offset, (HEADER.len() + ROW.len()) as u64);
    assert!(
        matches!(&damage.kind, ArchiveDamageKind::Io(e) if e.contains("message length")),
        "{damage}"
    );
}

/// The `--country` given for an archive goes through the same rule: not two letters, dropped on every row.
#[test]
fn an_invalid_archive_country_is_dropped_and_counted() {
    let (readings, stats, damage) =
        read_archive(SAMPLE.as_bytes(), "=cmd|' /C calc'!A0").expect("header");
    assert_eq!(damage, None);
    assert_eq!(readings.len(), 2);
    assert!(readings.iter().all(|r| r.country.is_empty()));
    assert_eq!(
        stats.dropped_values.get(&SkipReason::InvalidCountry),
        Some(&2)
    );
}

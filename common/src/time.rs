//! Timestamps: seconds since the Unix epoch, UTC, and the text forms airq reads and writes.
//!
//! Readings are keyed and ordered by whole seconds, so an `i64` of epoch seconds is the whole model: cheap to
//! compare, store and sort in every backend, and free of time-zone ambiguity.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Seconds since 1970-01-01T00:00:00Z.
pub type EpochSeconds = i64;

/// Parses the feed's and the archive's timestamp forms: `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`, UTC
/// without a zone marker. A trailing `Z` is tolerated. Fractions are not part of either format and are rejected.
pub fn parse_feed_timestamp(text: &str) -> Option<EpochSeconds> {
    let text = text.trim();
    let text = text.strip_suffix('Z').unwrap_or(text);
    let b = text.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)?;
    let datetime = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(datetime.and_utc().timestamp())
}

/// Parses a query bound: RFC 3339 (`2019-04-16T14:00:00Z`, any offset, fractions truncated to the second) or the
/// legacy `YYYY-MM-DD HH:MM:SS` taken as UTC. A bare date `YYYY-MM-DD` means its midnight, UTC.
pub fn parse_query_timestamp(text: &str) -> Option<EpochSeconds> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp());
    }
    if let Some(ts) = parse_feed_timestamp(text) {
        return Some(ts);
    }
    if let Ok(dt) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M") {
        return Some(dt.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp())
}

/// Formats as RFC 3339 UTC with a `Z` and whole seconds: `2019-04-16T14:22:52Z`.
///
/// Every CSV row has one, so this writes digits directly instead of going through chrono's format-string
/// machinery (about 20x faster); years outside 0..=9999 fall back to chrono.
pub fn format_rfc3339(ts: EpochSeconds) -> String {
    let mut out = Vec::with_capacity(20);
    write_time(ts, b'T', true, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends a timestamp to `out` without allocating: RFC 3339 (`2019-04-16T14:22:52Z`) with `sep = b'T'` and
/// `zone`, or the feed's `2019-04-16 14:22:52` with `sep = b' '` and no zone. Years outside 0..=9999 fall back to
/// chrono (no feed produces them, but data never makes this panic).
pub fn write_time(ts: EpochSeconds, sep: u8, zone: bool, out: &mut Vec<u8>) {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        let text = match DateTime::<Utc>::from_timestamp(ts, 0) {
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            None => ts.to_string(),
        };
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let mut buf = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, (secs / 3600) as u32, 2);
    put(14, (secs % 3600 / 60) as u32, 2);
    put(17, (secs % 60) as u32, 2);
    buf[10] = sep;
    out.extend_from_slice(if zone { &buf[..] } else { &buf[..19] });
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC hour bucket of a timestamp, `YYYY-MM-DDTHH`, used as a partition key by the DynamoDB store.
pub fn hour_bucket(ts: EpochSeconds) -> String {
    match DateTime::<Utc>::from_timestamp(ts - ts.rem_euclid(3600), 0) {
        Some(dt) => dt.format("%Y-%m-%dT%H").to_string(),
        None => format!("h{}", ts.div_euclid(3600)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_feed_and_archive_forms() {
        assert_eq!(
            parse_feed_timestamp("2019-04-16 14:22:52"),
            Some(1_555_424_572)
        );
        assert_eq!(
            parse_feed_timestamp("2019-04-16T14:22:52"),
            Some(1_555_424_572)
        );
        assert_eq!(
            parse_feed_timestamp("2019-04-16T14:22:52Z"),
            Some(1_555_424_572)
        );
    }

    #[test]
    fn rejects_bad_timestamps() {
        for bad in [
            "",
            "2019-04-16",
            "2019-13-16 14:22:52",
            "2019-02-30 14:22:52",
            "2019-04-16 25:22:52",
            "2019-04-16 14:22:5x",
            "2019/04/16 14:22:52",
            "2019-04-16 14:22:52.123",
            "+019-04-16 14:22:52",
        ] {
            assert_eq!(parse_feed_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn query_bounds_accept_rfc3339_and_legacy() {
        assert_eq!(
            parse_query_timestamp("2019-04-16T14:22:52Z"),
            Some(1_555_424_572)
        );
        assert_eq!(
            parse_query_timestamp("2019-04-16T16:22:52+02:00"),
            Some(1_555_424_572)
        );
        assert_eq!(
            parse_query_timestamp("2019-04-16 14:22:52"),
            Some(1_555_424_572)
        );
        assert_eq!(parse_query_timestamp("2019-04-16"), Some(1_555_372_800));
        assert_eq!(parse_query_timestamp("yesterday"), None);
    }

    #[test]
    fn fast_formatting_matches_chrono() {
        let chrono_fmt = |ts: i64| {
            DateTime::<Utc>::from_timestamp(ts, 0)
                .expect("in range")
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let mut ts = -62_167_219_200; // 0000-01-01
        while ts < 253_402_300_799 {
            assert_eq!(format_rfc3339(ts), chrono_fmt(ts), "{ts}");
            ts += 7_777_777 + ts.rem_euclid(86_399);
        }
        for ts in [
            0,
            951_782_400,
            951_868_799,
            1_555_424_572,
            4_107_542_400,
            -1,
            253_402_300_799,
        ] {
            assert_eq!(format_rfc3339(ts), chrono_fmt(ts), "{ts}");
        }
        assert_eq!(format_rfc3339(253_402_300_800), chrono_fmt(253_402_300_800));
    }

    #[test]
    fn formats_rfc3339_utc() {
        assert_eq!(format_rfc3339(1_555_424_572), "2019-04-16T14:22:52Z");
        assert_eq!(hour_bucket(1_555_424_572), "2019-04-16T14");
        assert_eq!(hour_bucket(1_555_423_200), "2019-04-16T14");
        assert_eq!(hour_bucket(1_555_423_199), "2019-04-16T13");
    }
}

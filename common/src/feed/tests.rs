//! Tests of the feed reader: the real sample, damage of every kind, and odd but valid input.
use super::*;

const SAMPLE: &[u8] = include_bytes!("../../../data/feed/sensor-community-2019-04-16.json");

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

/// A feed country that is not two letters (a spreadsheet formula, here) is dropped and counted; the reading kept.
#[test]
fn an_invalid_country_is_dropped_and_counted() {
    let data = br#"[{"sensor": {"id": 1}, "location": {"country": "=HYPERLINK(\"http://x\")"}, "sensordatavalues": [{"value": "5", "value_type": "P1"}], "timestamp": "2019-04-16 14:22:52"},
        {"sensor": {"id": 2}, "location": {"country": "de"}, "sensordatavalues": [{"value": "5", "value_type": "P1"}], "timestamp": "2019-04-16 14:22:52"}]"#;
    let (kept, stats, damage) = read_feed(&data[..]);
    assert_eq!(damage, None);
    let countries: Vec<&str> = kept.iter().map(|r| r.country.as_str()).collect();
    assert_eq!(countries, ["", "DE"]);
    assert_eq!(
        stats.dropped_values.get(&SkipReason::InvalidCountry),
        Some(&1)
    );
}

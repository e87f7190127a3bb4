//! A deterministic synthetic feed generator shaped like the real Sensor.Community snapshot, for scale tests and
//! benchmarks (the bundled real sample has only 243 records).
//!
//! Shape, from the bundled 2019-04-16 snapshot: about 58% of records carry PM values (SDS011 dominant, some PMS
//! and HPM sensors, a few PPD42NS particle counters), the rest are DHT22/BME280/BMP180 climate records; countries
//! are mostly DE, then BE, NL, AT, SE, PL, BG, GB and others; PM values are log-normal around PM2.5 ≈ 9 and
//! PM10 ≈ 12 µg/m³ with a long tail; a few records carry the failing-SDS011 values 999.9/1999.9, an empty string
//! or a negative number, as the live feed does. The same seed always gives the same bytes.

use std::io::{self, Write};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::time::{format_rfc3339, EpochSeconds};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub sensors: usize,
    pub hours: u32,
    /// Seconds between two readings of one sensor.
    pub interval_secs: u32,
    pub seed: u64,
    /// Time of the first reading.
    pub start: EpochSeconds,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            sensors: 1000,
            hours: 1,
            interval_secs: 300,
            seed: 1,
            start: 1_555_372_800, // 2019-04-16T00:00:00Z
        }
    }
}

impl SynthConfig {
    /// Records the feed will hold: one per sensor per interval.
    pub fn records(&self) -> u64 {
        let per_sensor = u64::from(self.hours) * 3600 / u64::from(self.interval_secs.max(1));
        self.sensors as u64 * per_sensor
    }
}

/// Counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthSummary {
    pub records: u64,
    pub bytes: u64,
}

/// Weighted choices: (weight, value).
const COUNTRIES: &[(u32, &str)] = &[
    (60, "DE"),
    (12, "BE"),
    (6, "NL"),
    (4, "AT"),
    (3, "SE"),
    (3, "PL"),
    (3, "BG"),
    (2, "GB"),
    (2, "FR"),
    (2, "IT"),
    (1, "US"),
    (1, "ES"),
    (1, ""),
];
const PM_SENSORS: &[(u32, &str, u32, &str)] = &[
    (88, "SDS011", 14, "Nova Fitness"),
    (6, "PMS7003", 17, "Plantower"),
    (3, "HPM", 24, "Honeywell"),
    (2, "PPD42NS", 1, "Shinyei"),
    (1, "SPS30", 30, "Sensirion"),
];
const CLIMATE_SENSORS: &[(u32, &str, u32, &str)] = &[
    (80, "DHT22", 9, "various"),
    (15, "BME280", 17, "Bosch"),
    (5, "BMP180", 3, "Bosch"),
];

fn pick<T: Copy>(rng: &mut StdRng, table: &[(u32, T)]) -> T {
    let total: u32 = table.iter().map(|(w, _)| w).sum();
    let mut n = rng.gen_range(0..total);
    for (w, v) in table {
        if n < *w {
            return *v;
        }
        n -= w;
    }
    table[table.len() - 1].1
}

fn pick4<'a>(
    rng: &mut StdRng,
    table: &'a [(u32, &'a str, u32, &'a str)],
) -> (&'a str, u32, &'a str) {
    let total: u32 = table.iter().map(|t| t.0).sum();
    let mut n = rng.gen_range(0..total);
    for t in table {
        if n < t.0 {
            return (t.1, t.2, t.3);
        }
        n -= t.0;
    }
    (table[0].1, table[0].2, table[0].3)
}

/// A fixed sensor: where it is and what it is.
struct Sensor {
    id: u64,
    location: u64,
    lat: f64,
    lon: f64,
    alt: f64,
    country: &'static str,
    kind: (&'static str, u32, &'static str),
    pm: bool,
    /// The sensor's typical PM2.5 level (log-normal across sensors).
    level: f64,
}

fn sensors(cfg: &SynthConfig, rng: &mut StdRng) -> Vec<Sensor> {
    (0..cfg.sensors)
        .map(|i| {
            let pm = rng.gen_bool(0.58);
            let kind = if pm {
                pick4(rng, PM_SENSORS)
            } else {
                pick4(rng, CLIMATE_SENSORS)
            };
            Sensor {
                id: 1000 + i as u64,
                location: 500 + i as u64,
                lat: rng.gen_range(36.0..60.0),
                lon: rng.gen_range(-8.0..28.0),
                alt: rng.gen_range(0.0..900.0),
                country: pick(rng, COUNTRIES),
                kind,
                pm,
                level: (rng.gen_range(1.2f64..3.4)).exp(),
            }
        })
        .collect()
}

fn timestamp(ts: EpochSeconds) -> String {
    // The feed's form: `YYYY-MM-DD HH:MM:SS`, UTC, no zone.
    format_rfc3339(ts)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

/// A PM value as the feed writes it, occasionally one of the feed's bad values.
fn pm_text(rng: &mut StdRng, value: f64, saturated: &str) -> String {
    match rng.gen_range(0..1000) {
        0 => saturated.to_string(),
        1 => String::new(),
        2 => format!("-{:.2}", value),
        _ => format!("{value:.2}"),
    }
}

/// Streams the feed as a JSON array to `out`; never holds more than one record in memory.
pub fn write_feed<W: Write>(cfg: &SynthConfig, out: W) -> io::Result<SynthSummary> {
    let mut out = io::BufWriter::with_capacity(256 << 10, out);
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let fleet = sensors(cfg, &mut rng);
    let steps = u64::from(cfg.hours) * 3600 / u64::from(cfg.interval_secs.max(1));
    let mut summary = SynthSummary::default();
    let mut measurement_id: u64 = 3_379_485_919;
    let mut value_id: u64 = 7_169_225_178;
    out.write_all(b"[")?;
    for step in 0..steps {
        let base = cfg.start + (step * u64::from(cfg.interval_secs)) as i64;
        for s in &fleet {
            let ts = base + rng.gen_range(0..i64::from(cfg.interval_secs.clamp(1, 60)));
            let values = if s.pm {
                // Hour-to-hour variation around the sensor's level; PM10 a bit above PM2.5.
                let pm25 = s.level * rng.gen_range(0.6..1.6);
                let pm10 = pm25 * rng.gen_range(1.1..2.2);
                format!(
                    r#"[{{"id": {}, "value": "{}", "value_type": "P1"}}, {{"id": {}, "value": "{}", "value_type": "P2"}}]"#,
                    value_id,
                    pm_text(&mut rng, pm10, "1999.90"),
                    value_id + 1,
                    pm_text(&mut rng, pm25, "999.90"),
                )
            } else {
                format!(
                    r#"[{{"id": {}, "value": "{:.2}", "value_type": "humidity"}}, {{"id": {}, "value": "{:.2}", "value_type": "temperature"}}]"#,
                    value_id,
                    rng.gen_range(20.0..95.0),
                    value_id + 1,
                    rng.gen_range(-5.0..30.0),
                )
            };
            value_id += 2;
            let record = format!(
                r#"{{"id": {measurement_id}, "sampling_rate": null, "timestamp": "{}", "location": {{"id": {}, "latitude": "{:.4}", "longitude": "{:.4}", "altitude": "{:.1}", "country": "{}"}}, "sensor": {{"id": {}, "pin": "1", "sensor_type": {{"id": {}, "name": "{}", "manufacturer": "{}"}}}}, "sensordatavalues": {values}}}"#,
                timestamp(ts),
                s.location,
                s.lat,
                s.lon,
                s.alt,
                s.country,
                s.id,
                s.kind.1,
                s.kind.0,
                s.kind.2,
            );
            measurement_id += 1;
            if summary.records > 0 {
                out.write_all(b", ")?;
                summary.bytes += 2;
            }
            out.write_all(record.as_bytes())?;
            summary.bytes += record.len() as u64;
            summary.records += 1;
        }
    }
    out.write_all(b"]")?;
    summary.bytes += 2;
    out.flush()?;
    Ok(summary)
}

/// The whole feed in memory (tests and benchmarks of modest size).
pub fn feed_bytes(cfg: &SynthConfig) -> Vec<u8> {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_feed(cfg, &mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::read_feed;
    use crate::reading::SkipReason;

    fn cfg(seed: u64) -> SynthConfig {
        SynthConfig {
            sensors: 300,
            hours: 2,
            seed,
            ..SynthConfig::default()
        }
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(feed_bytes(&cfg(7)), feed_bytes(&cfg(7)));
        assert_ne!(feed_bytes(&cfg(7)), feed_bytes(&cfg(8)));
    }

    #[test]
    fn parses_like_the_real_feed() {
        let c = cfg(3);
        let bytes = feed_bytes(&c);
        let (readings, stats, damage) = read_feed(&bytes[..]);
        assert_eq!(damage, None);
        assert_eq!(stats.records_seen, c.records());
        assert_eq!(c.records(), 300 * 24);
        let share = readings.len() as f64 / stats.records_seen as f64;
        assert!((0.45..0.65).contains(&share), "PM share {share}");
        assert!(stats.skipped[&SkipReason::NoPmValue] > 0);
        assert!(
            stats
                .skipped
                .get(&SkipReason::ParticleCounter)
                .copied()
                .unwrap_or(0)
                > 0
        );
        assert!(readings.iter().any(|r| r.country == "DE"));
        let de =
            readings.iter().filter(|r| r.country == "DE").count() as f64 / readings.len() as f64;
        assert!(de > 0.4, "DE share {de}");
        // Identity holds: no two readings share (sensor, timestamp).
        let mut keys: Vec<_> = readings
            .iter()
            .map(|r| (r.sensor_id, r.timestamp))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), readings.len());
    }
}

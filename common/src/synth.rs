//! A deterministic synthetic feed generator shaped like the real Sensor.Community snapshot, for scale tests and
//! benchmarks (the bundled real sample has only 243 records). It is the one generator: the parse benchmark, the
//! ingest benchmark and `airq-loadtest gen-feed` all use it, so their figures describe the same data.
//!
//! Shape, from the bundled 2019-04-16 snapshot and the live feed: about 58% of records carry PM values (SDS011
//! dominant, some Plantower/Honeywell/Sensirion sensors, a few PPD42NS particle counters), the rest are DHT22,
//! BME280, BMP180 and BMP280 climate records; countries are mostly DE, then BE, NL, AT, SE, PL, BG, GB and others;
//! PM2.5 is log-normal across sensors (median about 9 µg/m³) and varies log-normally from reading to reading, PM10
//! is 1.1-2.2 times PM2.5; about one value in 330 is one of the live feed's bad values (the failing-SDS011
//! 999.9/1999.9, an empty string, a negative number); a few sensors have `""` coordinates or altitude.
//!
//! The same config always gives the same bytes (`StdRng` seeded from `seed`, consumed in a fixed order).

use std::fmt::Write as _;
use std::io::{self, Write};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::time::{format_rfc3339, EpochSeconds};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub sensors: usize,
    pub hours: u32,
    /// Seconds between two readings of one sensor (300 in the live network).
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
    /// Readings per sensor: one per interval over `hours` (an interval of 0 is taken as 1 s).
    pub fn steps(&self) -> u64 {
        u64::from(self.hours) * 3600 / u64::from(self.interval_secs.max(1))
    }

    /// Records the feed will hold: `sensors * hours * 3600 / interval_secs`.
    pub fn records(&self) -> u64 {
        self.sensors as u64 * self.steps()
    }
}

/// Counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthSummary {
    pub records: u64,
    pub bytes: u64,
}

/// Countries, weighted like the 2019-04-16 snapshot (weight, code); `""` is a location without a country.
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

/// A sensor model as the feed describes it.
#[derive(Debug, Clone, Copy)]
struct Model {
    name: &'static str,
    /// The feed's `sensor_type.id`. SDS011, DHT22, BMP180 and BMP280 are as in the real snapshot.
    type_id: u32,
    manufacturer: &'static str,
    pin: &'static str,
    /// The `value_type`s of a record, in order. `P1`/`P2` get PM values, the others climate values.
    values: &'static [&'static str],
}

const PM: &[&str] = &["P1", "P2"];

/// PM sensor models, weighted (the live feed: SDS011 dominant, a few PPD42NS particle counters).
const PM_MODELS: &[(u32, Model)] = &[
    (88, model("SDS011", 14, "Nova Fitness", "1", PM)),
    (6, model("PMS7003", 22, "Plantower", "1", PM)),
    (3, model("HPM", 24, "Honeywell", "1", PM)),
    (2, model("PPD42NS", 1, "Shinyei", "5", PM)),
    (1, model("SPS30", 30, "Sensirion", "1", PM)),
];

/// Climate sensor models, weighted: no PM values, skipped as `no_pm_value`.
const CLIMATE_MODELS: &[(u32, Model)] = &[
    (
        80,
        model("DHT22", 9, "various", "7", &["humidity", "temperature"]),
    ),
    (
        12,
        model(
            "BME280",
            17,
            "Bosch",
            "11",
            &[
                "pressure",
                "temperature",
                "humidity",
                "pressure_at_sealevel",
            ],
        ),
    ),
    (
        4,
        model(
            "BMP180",
            8,
            "Bosch",
            "3",
            &["pressure", "pressure_at_sealevel", "temperature"],
        ),
    ),
    (
        4,
        model(
            "BMP280",
            20,
            "Bosch",
            "3",
            &["pressure", "pressure_at_sealevel", "temperature"],
        ),
    ),
];

const fn model(
    name: &'static str,
    type_id: u32,
    manufacturer: &'static str,
    pin: &'static str,
    values: &'static [&'static str],
) -> Model {
    Model {
        name,
        type_id,
        manufacturer,
        pin,
        values,
    }
}

/// Share of sensors measuring PM, as in the snapshot.
const PM_SHARE: f64 = 0.58;
/// Share of sensors whose location has `""` latitude and longitude, and `""` altitude.
const NO_COORDINATES: f64 = 0.005;
const NO_ALTITUDE: f64 = 0.03;

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

/// A standard normal variate (Box-Muller), so that PM levels are log-normal without another dependency.
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A fixed sensor: where it is and what it is.
struct Sensor {
    id: u64,
    location: u64,
    /// Coordinates as the feed writes them (text, `""` when unknown).
    latitude: String,
    longitude: String,
    altitude: String,
    country: &'static str,
    model: Model,
    /// The sensor's typical PM2.5 level in µg/m³ (log-normal across sensors).
    level: f64,
}

fn fleet(cfg: &SynthConfig, rng: &mut StdRng) -> Vec<Sensor> {
    (0..cfg.sensors)
        .map(|i| {
            let model = if rng.gen_bool(PM_SHARE) {
                pick(rng, PM_MODELS)
            } else {
                pick(rng, CLIMATE_MODELS)
            };
            let (latitude, longitude) = if rng.gen_bool(NO_COORDINATES) {
                (String::new(), String::new())
            } else {
                (
                    format!("{:.4}", rng.gen_range(36.0..60.0)),
                    format!("{:.4}", rng.gen_range(-8.0..28.0)),
                )
            };
            let altitude = if rng.gen_bool(NO_ALTITUDE) {
                String::new()
            } else {
                format!("{:.1}", rng.gen_range(0.0..900.0))
            };
            Sensor {
                id: 1000 + i as u64,
                location: 500 + i as u64,
                latitude,
                longitude,
                altitude,
                country: pick(rng, COUNTRIES),
                model,
                level: (9f64.ln() + 0.6 * normal(rng)).exp(),
            }
        })
        .collect()
}

/// The feed's timestamp form: `YYYY-MM-DD HH:MM:SS`, UTC, no zone.
fn feed_timestamp(ts: EpochSeconds) -> String {
    let mut text = format_rfc3339(ts);
    text.truncate(19);
    text.replace('T', " ")
}

/// Appends a PM value as the feed writes it; about 1 in 333 is one of the feed's bad values.
fn push_pm(text: &mut String, rng: &mut StdRng, value: f64, saturated: &str) {
    let _ = match rng.gen_range(0..1000) {
        0 => write!(text, "{saturated}"),
        1 => Ok(()),
        2 => write!(text, "-{value:.2}"),
        _ => write!(text, "{value:.2}"),
    };
}

/// Appends a plausible climate value of `kind`.
fn push_climate(text: &mut String, rng: &mut StdRng, kind: &str) {
    let value = match kind {
        "humidity" => rng.gen_range(20.0..95.0),
        "temperature" => rng.gen_range(-5.0..30.0),
        // Pascals, as the feed reports them.
        _ => rng.gen_range(95_000.0..103_000.0),
    };
    let _ = write!(text, "{value:.2}");
}

/// Counts what passes through, so the summary's byte count is what was written, not an estimate.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streams the feed as a JSON array to `out`, record by record: memory is the fleet's description and one
/// record, whatever the feed's size. Each sensor has one record per interval; its timestamp falls in the first
/// minute of the interval, so (sensor, timestamp) is unique as in the live feed.
pub fn write_feed<W: Write>(cfg: &SynthConfig, out: W) -> io::Result<SynthSummary> {
    let mut out = io::BufWriter::with_capacity(
        256 << 10,
        Counting {
            inner: out,
            bytes: 0,
        },
    );
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let fleet = fleet(cfg, &mut rng);
    let interval = i64::from(cfg.interval_secs.max(1));
    let jitter = interval.min(60);
    let mut records = 0u64;
    let mut measurement_id: u64 = 3_379_485_919;
    let mut value_id: u64 = 7_169_225_178;
    let mut value = String::with_capacity(16);
    out.write_all(b"[")?;
    for step in 0..cfg.steps() {
        let base = cfg.start + step as i64 * interval;
        for s in &fleet {
            let ts = base + rng.gen_range(0..jitter);
            let m = s.model;
            if records > 0 {
                out.write_all(b", ")?;
            }
            write!(
                out,
                r#"{{"id": {measurement_id}, "sampling_rate": null, "timestamp": "{}", "location": {{"id": {}, "latitude": "{}", "longitude": "{}", "altitude": "{}", "country": "{}"}}, "sensor": {{"id": {}, "pin": "{}", "sensor_type": {{"id": {}, "name": "{}", "manufacturer": "{}"}}}}, "sensordatavalues": ["#,
                feed_timestamp(ts),
                s.location,
                s.latitude,
                s.longitude,
                s.altitude,
                s.country,
                s.id,
                m.pin,
                m.type_id,
                m.name,
                m.manufacturer,
            )?;
            // Reading-to-reading variation around the sensor's level; PM10 above PM2.5.
            let pm25 = s.level * (0.25 * normal(&mut rng)).exp();
            let pm10 = pm25 * rng.gen_range(1.1..2.2);
            for (i, kind) in m.values.iter().enumerate() {
                value.clear();
                match *kind {
                    "P1" => push_pm(&mut value, &mut rng, pm10, "1999.90"),
                    "P2" => push_pm(&mut value, &mut rng, pm25, "999.90"),
                    other => push_climate(&mut value, &mut rng, other),
                }
                let sep = if i == 0 { "" } else { ", " };
                write!(
                    out,
                    r#"{sep}{{"id": {value_id}, "value": "{value}", "value_type": "{kind}"}}"#
                )?;
                value_id += 1;
            }
            out.write_all(b"]}")?;
            measurement_id += 1;
            records += 1;
        }
    }
    out.write_all(b"]")?;
    let mut counted = out.into_inner().map_err(|e| e.into_error())?;
    counted.flush()?;
    Ok(SynthSummary {
        records,
        bytes: counted.bytes,
    })
}

/// The whole feed in memory, for tests and benchmarks of modest size.
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
            sensors: 400,
            hours: 3,
            seed,
            ..SynthConfig::default()
        }
    }

    #[test]
    fn deterministic_per_seed() {
        let a = feed_bytes(&cfg(7));
        assert_eq!(a, feed_bytes(&cfg(7)));
        assert_ne!(a, feed_bytes(&cfg(8)));
        let started_later = SynthConfig {
            start: cfg(7).start + 3600,
            ..cfg(7)
        };
        assert_ne!(a, feed_bytes(&started_later));
    }

    #[test]
    fn record_count_is_sensors_times_intervals() {
        for (sensors, hours, interval_secs) in [(10, 1, 300), (7, 2, 600), (3, 1, 7), (5, 1, 3600)]
        {
            let c = SynthConfig {
                sensors,
                hours,
                interval_secs,
                ..SynthConfig::default()
            };
            let expected = sensors as u64 * u64::from(hours) * 3600 / u64::from(interval_secs);
            assert_eq!(c.records(), expected);
            let mut bytes = Vec::new();
            let summary = write_feed(&c, &mut bytes).expect("write");
            assert_eq!(summary.records, expected);
            assert_eq!(summary.bytes, bytes.len() as u64);
            let (_, stats, damage) = read_feed(&bytes[..]);
            assert_eq!(damage, None);
            assert_eq!(
                stats.records_seen, expected,
                "{sensors}x{hours}h/{interval_secs}s"
            );
        }
        let empty = SynthConfig {
            sensors: 0,
            ..SynthConfig::default()
        };
        let (_, stats, damage) = read_feed(&feed_bytes(&empty)[..]);
        assert_eq!((stats.records_seen, damage), (0, None));
    }

    #[test]
    fn records_have_the_feed_shape() {
        let bytes = feed_bytes(&cfg(5));
        let records: Vec<serde_json::Value> = serde_json::from_slice(&bytes).expect("JSON array");
        assert_eq!(records.len() as u64, cfg(5).records());
        let first = &records[0];
        assert!(first["id"].is_u64());
        assert!(first["sampling_rate"].is_null());
        let ts = first["timestamp"].as_str().expect("timestamp");
        assert!(crate::time::parse_feed_timestamp(ts).is_some(), "{ts}");
        for key in ["latitude", "longitude", "altitude", "country"] {
            assert!(first["location"][key].is_string(), "{key} is text");
        }
        assert!(first["sensor"]["sensor_type"]["name"].is_string());
        assert!(first["sensor"]["pin"].is_string());
        let values = first["sensordatavalues"].as_array().expect("values");
        assert!(values
            .iter()
            .all(|v| v["id"].is_u64() && v["value"].is_string() && v["value_type"].is_string()));
        // Real-feed quirks are present somewhere.
        let empty_altitude = records
            .iter()
            .filter(|r| r["location"]["altitude"] == "")
            .count();
        assert!(empty_altitude > 0);
        let pressure = records.iter().any(|r| {
            r["sensordatavalues"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v["value_type"] == "pressure"))
        });
        assert!(pressure);
    }

    #[test]
    fn parses_like_the_real_feed() {
        let c = cfg(3);
        let bytes = feed_bytes(&c);
        let (readings, stats, damage) = read_feed(&bytes[..]);
        assert_eq!(damage, None);
        assert_eq!(stats.records_seen, c.records());
        let records = stats.records_seen as f64;
        let share = |n: u64| n as f64 / records;
        let skipped = |r: SkipReason| stats.skipped.get(&r).copied().unwrap_or(0);
        let dropped = |r: SkipReason| stats.dropped_values.get(&r).copied().unwrap_or(0);

        // About 58% PM records, less the particle counters.
        let kept = share(readings.len() as u64);
        assert!((0.50..0.63).contains(&kept), "readings share {kept}");
        let climate = share(skipped(SkipReason::NoPmValue));
        assert!(
            (0.36..0.48).contains(&climate),
            "no_pm_value share {climate}"
        );
        let counters = share(skipped(SkipReason::ParticleCounter));
        assert!(
            (0.002..0.03).contains(&counters),
            "particle_counter share {counters}"
        );
        // Bad values are rare, and all three kinds occur; a record keeps its other value.
        for reason in [
            SkipReason::SaturatedSensor,
            SkipReason::InvalidNumber,
            SkipReason::NegativeValue,
        ] {
            let n = dropped(reason) + skipped(reason);
            assert!(n > 0, "{reason} occurs");
            assert!(share(n) < 0.005, "{reason} is rare: {n}");
        }
        // Nothing the generator writes is malformed.
        for reason in [
            SkipReason::MalformedRecord,
            SkipReason::BadTimestamp,
            SkipReason::MissingSensorId,
        ] {
            assert_eq!(skipped(reason), 0, "{reason}");
        }
        assert_eq!(stats.readings + stats.total_skipped(), stats.records_seen);

        let de =
            readings.iter().filter(|r| r.country == "DE").count() as f64 / readings.len() as f64;
        assert!((0.45..0.75).contains(&de), "DE share {de}");
        let sds = readings
            .iter()
            .filter(|r| r.sensor_type == "SDS011")
            .count() as f64
            / readings.len() as f64;
        assert!(sds > 0.8, "SDS011 share {sds}");
        assert!(readings.iter().any(|r| r.altitude.is_none()));
        // PM2.5 median near 9 µg/m³, PM10 above PM2.5.
        let mut pm25: Vec<f64> = readings.iter().filter_map(|r| r.pm25).collect();
        pm25.sort_by(f64::total_cmp);
        let median = pm25[pm25.len() / 2];
        assert!((5.0..15.0).contains(&median), "PM2.5 median {median}");
        assert!(readings
            .iter()
            .filter_map(|r| Some((r.pm10?, r.pm25?)))
            .all(|(pm10, pm25)| pm10 >= pm25));

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

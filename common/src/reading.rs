//! The reading model, and the rules that turn a source record into a reading or a counted skip.
//!
//! The rules are the project's (see `docs/architecture.md`): keep a record only if it has a PM10 (`P1`) and/or
//! PM2.5 (`P2`) value that is a finite number >= 0 below the sensor's saturation limit, from a sensor that is not
//! a particle counter. An unusable value is dropped; a record left with no usable value is skipped; every drop
//! and skip is counted by reason so an ingest run can report exactly what it did not store. A country that is not
//! two ASCII letters is dropped too (the reading kept without it).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::index::{daqi, Band};
use crate::time::EpochSeconds;

/// One stored air-quality reading. Identified by (`sensor_id`, `timestamp`): storing the same pair twice keeps one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The feed's measurement id; archives have none.
    pub id: Option<u64>,
    pub sensor_id: u64,
    pub sensor_type: String,
    pub location_id: Option<u64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
    /// ISO 3166 alpha-2, upper case; empty when the source has none.
    pub country: String,
    pub indoor: Option<bool>,
    pub timestamp: EpochSeconds,
    /// PM10 in µg/m³ (the feed's `P1`).
    pub pm10: Option<f64>,
    /// PM2.5 in µg/m³ (the feed's `P2`).
    pub pm25: Option<f64>,
    /// UK DAQI, 1..=10: the worse of the two pollutants.
    pub aqi: u8,
    pub band: Band,
}

/// Why a record was skipped, or one of its values dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No `P1`/`P2` value at all (temperature, humidity and pressure sensors).
    NoPmValue,
    /// A PM value that is empty or not a finite number.
    InvalidNumber,
    /// A PM value below zero.
    NegativeValue,
    /// A failing SDS011 reports 999.9 / 1999.9; PM10 >= 1900 or PM2.5 >= 900 is taken as saturation.
    SaturatedSensor,
    /// PPD42NS and DSM501A report particle counts, not µg/m³.
    ParticleCounter,
    /// No timestamp, or one that is not `YYYY-MM-DD HH:MM:SS`.
    BadTimestamp,
    /// No usable sensor id.
    MissingSensorId,
    /// Not a JSON object of the feed's shape, or a CSV row with the wrong number of cells.
    MalformedRecord,
    /// A country that is not two ASCII letters (ISO 3166 alpha-2).
    InvalidCountry,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NoPmValue => "no_pm_value",
            SkipReason::InvalidNumber => "invalid_number",
            SkipReason::NegativeValue => "negative_value",
            SkipReason::SaturatedSensor => "saturated_sensor",
            SkipReason::ParticleCounter => "particle_counter",
            SkipReason::BadTimestamp => "bad_timestamp",
            SkipReason::MissingSensorId => "missing_sensor_id",
            SkipReason::MalformedRecord => "malformed_record",
            SkipReason::InvalidCountry => "invalid_country",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a parse saw: records read, readings produced, and skips and value drops by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParseStats {
    pub records_seen: u64,
    pub readings: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    pub dropped_values: BTreeMap<SkipReason, u64>,
}

impl ParseStats {
    pub fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    pub fn drop_value(&mut self, reason: SkipReason) {
        *self.dropped_values.entry(reason).or_default() += 1;
    }

    pub fn total_skipped(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds another parse's counts to this one (a directory of archive files, several feed fetches).
    pub fn merge(&mut self, other: &ParseStats) {
        self.records_seen += other.records_seen;
        self.readings += other.readings;
        for (reason, n) in &other.skipped {
            *self.skipped.entry(*reason).or_default() += n;
        }
        for (reason, n) in &other.dropped_values {
            *self.dropped_values.entry(*reason).or_default() += n;
        }
    }
}

/// Saturation limits (µg/m³) above which a value is a sensor fault, as on the official map.
const PM10_SATURATION: f64 = 1900.0;
const PM25_SATURATION: f64 = 900.0;

/// Sensor types whose `P1`/`P2` are particle counts, not mass concentrations.
pub fn is_particle_counter(sensor_type: &str) -> bool {
    sensor_type.eq_ignore_ascii_case("PPD42NS") || sensor_type.eq_ignore_ascii_case("DSM501A")
}

/// Validates one PM value from its source text.
pub fn pm_value(text: &str, is_pm10: bool) -> Result<f64, SkipReason> {
    let value: f64 = text.trim().parse().map_err(|_| SkipReason::InvalidNumber)?;
    check_pm(value, is_pm10)
}

/// Validates one PM value already read as a number.
pub fn check_pm(value: f64, is_pm10: bool) -> Result<f64, SkipReason> {
    if !value.is_finite() {
        return Err(SkipReason::InvalidNumber);
    }
    if value < 0.0 {
        return Err(SkipReason::NegativeValue);
    }
    let limit = if is_pm10 {
        PM10_SATURATION
    } else {
        PM25_SATURATION
    };
    if value >= limit {
        return Err(SkipReason::SaturatedSensor);
    }
    Ok(value)
}

/// The source-independent fields of a record, once its format has been read.
#[derive(Debug, Default)]
pub struct RecordFields<'a> {
    pub id: Option<u64>,
    pub sensor_id: Option<u64>,
    pub sensor_type: &'a str,
    pub location_id: Option<u64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
    pub country: &'a str,
    pub indoor: Option<bool>,
    pub timestamp: Option<EpochSeconds>,
    /// The PM10 value: `None` when absent, `Some(Err)` when present but unusable.
    pub pm10: Option<Result<f64, SkipReason>>,
    pub pm25: Option<Result<f64, SkipReason>>,
}

impl RecordFields<'_> {
    /// Applies the rules: a reading, or the reason the record is skipped. Dropped values are counted in `stats`;
    /// the record itself is counted by the caller through the returned result.
    pub fn into_reading(self, stats: &mut ParseStats) -> Result<Reading, SkipReason> {
        if self.pm10.is_none() && self.pm25.is_none() {
            return Err(SkipReason::NoPmValue);
        }
        if is_particle_counter(self.sensor_type) {
            return Err(SkipReason::ParticleCounter);
        }
        let mut first_failure = None;
        let mut keep = |value: Option<Result<f64, SkipReason>>| match value {
            Some(Ok(v)) => Some(v),
            Some(Err(reason)) => {
                first_failure.get_or_insert(reason);
                None
            }
            None => None,
        };
        let pm10 = keep(self.pm10);
        let pm25 = keep(self.pm25);
        let Some(aqi) = daqi(pm25, pm10) else {
            return Err(first_failure.unwrap_or(SkipReason::NoPmValue));
        };
        let sensor_id = self.sensor_id.ok_or(SkipReason::MissingSensorId)?;
        let timestamp = self.timestamp.ok_or(SkipReason::BadTimestamp)?;
        if let Some(reason) = first_failure {
            stats.drop_value(reason);
        }
        let country = country_code(self.country).unwrap_or_else(|reason| {
            stats.drop_value(reason);
            String::new()
        });
        Ok(Reading {
            id: self.id,
            sensor_id,
            sensor_type: self.sensor_type.trim().to_string(),
            location_id: self.location_id,
            latitude: self.latitude,
            longitude: self.longitude,
            altitude: self.altitude,
            country,
            indoor: self.indoor,
            timestamp,
            pm10,
            pm25,
            aqi,
            band: Band::of_index(aqi),
        })
    }
}

/// Validates a country: two ASCII letters (ISO 3166 alpha-2), stored upper case; empty when the source has none.
/// Anything else is not a country, and is refused rather than stored: a value such as `=HYPERLINK(...)` would
/// otherwise reach the CSV answer, where a spreadsheet runs it as a formula.
pub fn country_code(text: &str) -> Result<String, SkipReason> {
    let text = text.trim();
    match text.as_bytes() {
        [] => Ok(String::new()),
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Ok(text.to_ascii_uppercase())
        }
        _ => Err(SkipReason::InvalidCountry),
    }
}

/// Parses an optional numeric field given as text; empty or unparsable text is "missing", not an error, because
/// coordinates and altitude are often `""` in the feed and do not make a reading unusable.
pub fn optional_f64(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(pm10: Option<&str>, pm25: Option<&str>) -> RecordFields<'a> {
        RecordFields {
            sensor_id: Some(1),
            sensor_type: "SDS011",
            country: "de",
            timestamp: Some(0),
            pm10: pm10.map(|t| pm_value(t, true)),
            pm25: pm25.map(|t| pm_value(t, false)),
            ..Default::default()
        }
    }

    #[test]
    fn keeps_good_values_and_computes_index() {
        let mut stats = ParseStats::default();
        let r = fields(Some("20.40"), Some("14.80"))
            .into_reading(&mut stats)
            .expect("reading");
        assert_eq!(r.pm10, Some(20.4));
        assert_eq!(r.pm25, Some(14.8));
        assert_eq!(r.aqi, 2);
        assert_eq!(r.band, Band::Low);
        assert_eq!(r.country, "DE");
        assert!(stats.dropped_values.is_empty());
    }

    #[test]
    fn drops_a_bad_value_and_keeps_the_other() {
        let mut stats = ParseStats::default();
        let r = fields(Some("1999.9"), Some("40"))
            .into_reading(&mut stats)
            .expect("reading");
        assert_eq!(r.pm10, None);
        assert_eq!(r.aqi, 4); // PM2.5 40 is in 36-41
        assert_eq!(stats.dropped_values[&SkipReason::SaturatedSensor], 1);
    }

    #[test]
    fn skips_by_reason() {
        let mut stats = ParseStats::default();
        let cases = [
            (fields(None, None), SkipReason::NoPmValue),
            (fields(Some(""), Some("abc")), SkipReason::InvalidNumber),
            (fields(Some("NaN"), None), SkipReason::InvalidNumber),
            (fields(Some("-1"), None), SkipReason::NegativeValue),
            (
                fields(Some("1900"), Some("999.9")),
                SkipReason::SaturatedSensor,
            ),
            (
                RecordFields {
                    sensor_type: "PPD42NS",
                    ..fields(Some("5"), Some("5"))
                },
                SkipReason::ParticleCounter,
            ),
            (
                RecordFields {
                    timestamp: None,
                    ..fields(Some("5"), None)
                },
                SkipReason::BadTimestamp,
            ),
            (
                RecordFields {
                    sensor_id: None,
                    ..fields(Some("5"), None)
                },
                SkipReason::MissingSensorId,
            ),
        ];
        for (f, reason) in cases {
            assert_eq!(f.into_reading(&mut stats), Err(reason));
        }
    }

    #[test]
    fn saturation_limits_are_exclusive_bounds() {
        assert_eq!(check_pm(1899.9, true), Ok(1899.9));
        assert_eq!(check_pm(1900.0, true), Err(SkipReason::SaturatedSensor));
        assert_eq!(check_pm(899.9, false), Ok(899.9));
        assert_eq!(check_pm(900.0, false), Err(SkipReason::SaturatedSensor));
        assert_eq!(check_pm(0.0, false), Ok(0.0));
    }

    /// Issue 10: a country like `=HYPERLINK(...)` reached the CSV answer, where a spreadsheet runs it as a
    /// formula. Only two ASCII letters are a country; anything else is dropped (the reading kept) and counted.
    #[test]
    fn a_country_is_two_ascii_letters_or_dropped() {
        let cases = [
            ("de", "DE", false),
            (" nl ", "NL", false),
            ("GB", "GB", false),
            ("", "", false),
            ("=HYPERLINK(\"http://x\",\"y\")", "", true),
            ("+1", "", true),
            ("DEU", "", true),
            ("D", "", true),
            ("D1", "", true),
            ("@A", "", true),
            ("ÉS", "", true),
            ("d e", "", true),
        ];
        for (country, stored, dropped) in cases {
            let mut stats = ParseStats::default();
            let r = RecordFields {
                country,
                ..fields(Some("5"), None)
            }
            .into_reading(&mut stats)
            .expect("the reading is kept");
            assert_eq!(r.country, stored, "{country:?}");
            let counted = stats.dropped_values.get(&SkipReason::InvalidCountry);
            assert_eq!(counted, dropped.then_some(&1), "{country:?}");
        }
        // A skipped record's country is not counted: only kept readings drop values.
        let mut stats = ParseStats::default();
        let skipped = RecordFields {
            country: "=1",
            ..fields(None, None)
        };
        assert_eq!(skipped.into_reading(&mut stats), Err(SkipReason::NoPmValue));
        assert!(stats.dropped_values.is_empty());
    }
}

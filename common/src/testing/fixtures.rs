//! Deterministic readings for tests: several countries (and none), sensors, hours and bands, with ties on
//! timestamp so that ordering by (timestamp, sensor_id) is really exercised.

use crate::index::{daqi, Band};
use crate::reading::Reading;
use crate::time::EpochSeconds;

/// 2019-04-16T12:00:00Z, the hour the bundled real sample starts near.
pub const T0: EpochSeconds = 1_555_416_000;

/// `n` readings spread over `hours` hours from [`T0`], four countries ("DE", "NL", "GB", and ""), 13 sensors.
pub fn readings(n: usize, hours: i64) -> Vec<Reading> {
    let countries = ["DE", "NL", "GB", ""];
    let span = (hours * 3600).max(1);
    (0..n)
        .map(|i| {
            let i64i = i as i64;
            let sensor_id = 1000 + (i as u64 * 7) % 13;
            // Several readings share a timestamp (different sensors), and the times are not in insertion order.
            let timestamp = T0 + (i64i * 911) % span / 60 * 60;
            let pm25 = ((i * 37) % 800) as f64 / 10.0 + 0.05;
            let pm10 = if i % 5 == 0 {
                None
            } else {
                Some(((i * 53) % 1300) as f64 / 10.0 + 0.25)
            };
            let pm25 = if i % 7 == 3 { None } else { Some(pm25) };
            let pm25 = if pm25.is_none() && pm10.is_none() {
                Some(1.0)
            } else {
                pm25
            };
            let aqi = daqi(pm25, pm10).unwrap_or(1);
            Reading {
                id: if i % 4 == 0 {
                    None
                } else {
                    Some(3_379_485_919 + i as u64)
                },
                sensor_id,
                sensor_type: if i % 3 == 0 {
                    "PMS7003".into()
                } else {
                    "SDS011".into()
                },
                location_id: if i % 6 == 0 {
                    None
                } else {
                    Some(200 + sensor_id)
                },
                latitude: Some(48.0 + (i % 17) as f64 * 0.1234567),
                longitude: if i % 9 == 0 {
                    None
                } else {
                    Some(9.316 - (i % 11) as f64 * 0.5)
                },
                altitude: if i % 2 == 0 { None } else { Some(241.9) },
                country: countries[(sensor_id as usize) % countries.len()].to_string(),
                indoor: match i % 3 {
                    0 => None,
                    1 => Some(false),
                    _ => Some(true),
                },
                timestamp,
                pm10,
                pm25,
                aqi,
                band: Band::of_index(aqi),
            }
        })
        .collect()
}

/// What a correct store answers: the readings matching `query`, last write per key winning, in answer order.
pub fn expected(written: &[Reading], query: &crate::query::Query) -> Vec<Reading> {
    let mut latest: std::collections::BTreeMap<(EpochSeconds, u64), Reading> = Default::default();
    for r in written {
        latest.insert((r.timestamp, r.sensor_id), r.clone());
    }
    latest.into_values().filter(|r| query.matches(r)).collect()
}

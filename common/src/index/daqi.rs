//! The UK Daily Air Quality Index (DAQI) for particulate matter, table-driven (airq's default index).
//!
//! Source: Defra, "Daily Air Quality Index" (https://uk-air.defra.gov.uk/air-pollution/daqi), the PM2.5 and PM10
//! bands as tabled in the project's reference on air-quality indices (docs/indices.md).
//!
//! airq rule (from the project's reference on air-quality indices): round the concentration to the nearest
//! integer, halves up, exactly once, then look the integer up in the band table. Rounding first is what closes
//! the gaps between integer bands that the legacy system fell into (11.5 µg/m³ PM2.5 matched no band there).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The lowest integer concentration (µg/m³) of index 1..=10 for PM2.5; index `i` starts at `PM25_FLOORS[i - 1]`.
const PM25_FLOORS: [u32; 10] = [0, 12, 24, 36, 42, 48, 54, 59, 65, 71];
/// The lowest integer concentration (µg/m³) of index 1..=10 for PM10.
const PM10_FLOORS: [u32; 10] = [0, 17, 34, 51, 59, 67, 76, 84, 92, 101];

/// The particulate pollutants airq indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pollutant {
    /// Particles up to 2.5 µm (the feed's `P2`).
    Pm25,
    /// Particles up to 10 µm (the feed's `P1`).
    Pm10,
}

impl Pollutant {
    fn floors(self) -> &'static [u32; 10] {
        match self {
            Pollutant::Pm25 => &PM25_FLOORS,
            Pollutant::Pm10 => &PM10_FLOORS,
        }
    }
}

/// Rounds half up once. Concentrations are finite and non-negative by the time they get here (the feed rules drop
/// anything else), so `floor(x + 0.5)` is "nearest, halves up"; a negative or non-finite value maps to 0.
fn round_half_up(value: f64) -> u32 {
    if !value.is_finite() || value <= 0.0 {
        return 0;
    }
    let rounded = (value + 0.5).floor();
    if rounded >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        rounded as u32
    }
}

/// The DAQI index (1..=10) of one pollutant's concentration in µg/m³.
pub fn pollutant_index(pollutant: Pollutant, concentration: f64) -> u8 {
    let value = round_half_up(concentration);
    let floors = pollutant.floors();
    // The number of band floors at or below the value is the index: floors[0] is 0, so it is at least 1.
    floors.iter().take_while(|floor| **floor <= value).count() as u8
}

/// The reading's index: the worse of the two pollutants, or the one present. `None` when neither is present.
pub fn daqi(pm25: Option<f64>, pm10: Option<f64>) -> Option<u8> {
    let a = pm25.map(|v| pollutant_index(Pollutant::Pm25, v));
    let b = pm10.map(|v| pollutant_index(Pollutant::Pm10, v));
    a.max(b)
}

/// DAQI bands. Ordered from best to worst so that `max` picks the worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Band {
    Low,
    Moderate,
    High,
    VeryHigh,
}

impl Band {
    /// The band of an index value (1..=10; 0 is treated as Low, anything above 10 as Very High).
    pub fn of_index(index: u8) -> Band {
        match index {
            0..=3 => Band::Low,
            4..=6 => Band::Moderate,
            7..=9 => Band::High,
            _ => Band::VeryHigh,
        }
    }

    /// The band of a 0-based level (`Band as u8` inverted; past the end is Very High).
    pub fn of_level(level: u8) -> Band {
        match level {
            0 => Band::Low,
            1 => Band::Moderate,
            2 => Band::High,
            _ => Band::VeryHigh,
        }
    }

    /// The canonical name, as written in CSV and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "Low",
            Band::Moderate => "Moderate",
            Band::High => "High",
            Band::VeryHigh => "Very High",
        }
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A band name that is none of the known spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown band {0:?}; expected one of Low, Moderate (or Medium), High, Very High (or Very_High)"
)]
pub struct UnknownBand(pub String);

impl FromStr for Band {
    type Err = UnknownBand;

    /// Accepts the canonical names and the legacy spellings "Medium" and "Very_High", ignoring case and
    /// treating `_`, `-` and a space alike, because legacy clients send all of these.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .flat_map(char::to_lowercase)
            .collect();
        match norm.as_str() {
            "low" => Ok(Band::Low),
            "moderate" | "medium" => Ok(Band::Moderate),
            "high" => Ok(Band::High),
            "veryhigh" => Ok(Band::VeryHigh),
            _ => Err(UnknownBand(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of every band edge, for both pollutants, straight from the DAQI table: the last value that
    /// rounds into index i and the first that rounds into i + 1.
    #[test]
    fn every_band_edge_of_pm25() {
        let edges = [
            (11.49, 1, 11.5, 2),
            (23.49, 2, 23.5, 3),
            (35.49, 3, 35.5, 4),
            (41.49, 4, 41.5, 5),
            (47.49, 5, 47.5, 6),
            (53.49, 6, 53.5, 7),
            (58.49, 7, 58.5, 8),
            (64.49, 8, 64.5, 9),
            (70.49, 9, 70.5, 10),
        ];
        for (below, i_below, above, i_above) in edges {
            assert_eq!(
                pollutant_index(Pollutant::Pm25, below),
                i_below,
                "pm2.5 {below}"
            );
            assert_eq!(
                pollutant_index(Pollutant::Pm25, above),
                i_above,
                "pm2.5 {above}"
            );
        }
    }

    #[test]
    fn every_band_edge_of_pm10() {
        let edges = [
            (16.49, 1, 16.5, 2),
            (33.49, 2, 33.5, 3),
            (50.49, 3, 50.5, 4),
            (58.49, 4, 58.5, 5),
            (66.49, 5, 66.5, 6),
            (75.49, 6, 75.5, 7),
            (83.49, 7, 83.5, 8),
            (91.49, 8, 91.5, 9),
            (100.49, 9, 100.5, 10),
        ];
        for (below, i_below, above, i_above) in edges {
            assert_eq!(
                pollutant_index(Pollutant::Pm10, below),
                i_below,
                "pm10 {below}"
            );
            assert_eq!(
                pollutant_index(Pollutant::Pm10, above),
                i_above,
                "pm10 {above}"
            );
        }
    }

    #[test]
    fn integer_edges_match_the_table() {
        assert_eq!(pollutant_index(Pollutant::Pm25, 0.0), 1);
        assert_eq!(pollutant_index(Pollutant::Pm25, 11.0), 1);
        assert_eq!(pollutant_index(Pollutant::Pm25, 12.0), 2);
        assert_eq!(pollutant_index(Pollutant::Pm25, 71.0), 10);
        assert_eq!(pollutant_index(Pollutant::Pm25, 899.0), 10);
        assert_eq!(pollutant_index(Pollutant::Pm10, 100.0), 9);
        assert_eq!(pollutant_index(Pollutant::Pm10, 101.0), 10);
    }

    #[test]
    fn reference_examples_round_once() {
        assert_eq!(pollutant_index(Pollutant::Pm25, 11.4), 1);
        assert_eq!(pollutant_index(Pollutant::Pm25, 11.5), 2);
        assert_eq!(pollutant_index(Pollutant::Pm25, 70.5), 10);
    }

    #[test]
    fn overall_is_the_worse_pollutant() {
        assert_eq!(daqi(Some(5.0), Some(60.0)), Some(5));
        assert_eq!(daqi(Some(50.0), Some(5.0)), Some(6));
        assert_eq!(daqi(None, Some(17.0)), Some(2));
        assert_eq!(daqi(Some(12.0), None), Some(2));
        assert_eq!(daqi(None, None), None);
    }

    #[test]
    fn bands_and_spellings() {
        assert_eq!(Band::of_index(3), Band::Low);
        assert_eq!(Band::of_index(4), Band::Moderate);
        assert_eq!(Band::of_index(6), Band::Moderate);
        assert_eq!(Band::of_index(7), Band::High);
        assert_eq!(Band::of_index(9), Band::High);
        assert_eq!(Band::of_index(10), Band::VeryHigh);
        assert_eq!("Medium".parse::<Band>(), Ok(Band::Moderate));
        assert_eq!("Very_High".parse::<Band>(), Ok(Band::VeryHigh));
        assert_eq!("very high".parse::<Band>(), Ok(Band::VeryHigh));
        assert_eq!("LOW".parse::<Band>(), Ok(Band::Low));
        assert!("Extreme".parse::<Band>().is_err());
        for band in [Band::Low, Band::Moderate, Band::High, Band::VeryHigh] {
            assert_eq!(band.as_str().parse::<Band>(), Ok(band));
        }
    }
}

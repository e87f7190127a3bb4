//! The European Air Quality Index (EAQI) for particulate matter, 2024 revision.
//!
//! Source: European Environment Agency, "European Air Quality Index" — index bands revised in 2024 in line with
//! the revised Ambient Air Quality Directive (EU) 2024/2881
//! (https://airindex.eea.europa.eu/AQI/index.html, "About the index", band table for PM2.5 and PM10).
//!
//! Six levels, Good to Extremely poor. The EEA writes the bands as `0-5, 5-15, ...`; airq reads each band as
//! including its upper bound (a value exactly on a threshold is still the better level: 5 µg/m³ PM2.5 is Good,
//! anything above 5 is Fair), which is how the EEA's threshold table is applied to its values. The overall level
//! is the worse pollutant's; the index value is the level's number, 1..=6.

/// The six levels, best first.
pub const LEVELS: [&str; 6] = [
    "Good",
    "Fair",
    "Moderate",
    "Poor",
    "Very poor",
    "Extremely poor",
];

/// The upper bound (µg/m³, inclusive) of each level but the last.
const PM25_TOPS: [f64; 5] = [5.0, 15.0, 50.0, 90.0, 140.0];
const PM10_TOPS: [f64; 5] = [15.0, 45.0, 120.0, 195.0, 270.0];

fn level_in(tops: &[f64; 5], concentration: f64) -> u8 {
    if !concentration.is_finite() {
        return 0;
    }
    tops.iter().take_while(|top| concentration > **top).count() as u8
}

/// The PM2.5 level (0-based) of a concentration in µg/m³.
pub fn pm25_level(concentration: f64) -> u8 {
    level_in(&PM25_TOPS, concentration)
}

/// The PM10 level (0-based) of a concentration in µg/m³.
pub fn pm10_level(concentration: f64) -> u8 {
    level_in(&PM10_TOPS, concentration)
}

/// The reading's level (0-based): the worse pollutant's, or the one present; `None` with neither.
pub fn level(pm25: Option<f64>, pm10: Option<f64>) -> Option<u8> {
    pm25.map(pm25_level).max(pm10.map(pm10_level))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of every threshold: on the threshold is the better level, just above it the worse.
    #[test]
    fn every_band_edge_from_both_sides() {
        for (tops, levelf) in [
            (PM25_TOPS, pm25_level as fn(f64) -> u8),
            (PM10_TOPS, pm10_level as fn(f64) -> u8),
        ] {
            for (i, top) in tops.iter().enumerate() {
                assert_eq!(levelf(*top), i as u8, "{top}");
                assert_eq!(levelf(top + 0.01), i as u8 + 1, "{top}+0.01");
            }
        }
        assert_eq!(pm25_level(0.0), 0);
        assert_eq!(pm25_level(140.01), 5);
        assert_eq!(pm10_level(899.0), 5);
    }

    #[test]
    fn the_worse_pollutant_decides() {
        assert_eq!(level(Some(4.0), Some(50.0)), Some(2));
        assert_eq!(level(Some(95.0), Some(10.0)), Some(4));
        assert_eq!(level(None, Some(15.0)), Some(0));
        assert_eq!(level(None, None), None);
    }
}

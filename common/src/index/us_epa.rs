//! The US EPA Air Quality Index for particulate matter, with the PM2.5 breakpoints revised in 2024.
//!
//! Source: US EPA, "Final Updates to the Air Quality Index (AQI) for Particulate Matter — Fact Sheet and Technical
//! Assistance Document", February 2024, in force from 2024-05-06 (40 CFR Part 58, Appendix G, table 2 as
//! amended; https://www.epa.gov/system/files/documents/2024-02/pm-naaqs-air-quality-index-fact-sheet.pdf).
//!
//! The EPA's procedure, applied as written: truncate PM2.5 to 0.1 µg/m³ and PM10 to 1 µg/m³, find the breakpoint
//! row that holds the truncated value, interpolate linearly between the row's index bounds, round to the nearest
//! integer. The overall index is the larger of the two pollutants'. Concentrations above the table's top are
//! reported as 500 (the EPA's "beyond the AQI").

/// The six categories, best first (value ranges 0–50, 51–100, 101–150, 151–200, 201–300, 301–500).
pub const CATEGORIES: [&str; 6] = [
    "Good",
    "Moderate",
    "Unhealthy for Sensitive Groups",
    "Unhealthy",
    "Very Unhealthy",
    "Hazardous",
];

/// The first index value of each category after the first.
const CATEGORY_FLOORS: [u16; 5] = [51, 101, 151, 201, 301];

/// One breakpoint row: concentrations `c_lo..=c_hi` (in the truncation unit: tenths of µg/m³ for PM2.5, µg/m³
/// for PM10) map onto index values `i_lo..=i_hi`.
struct Row {
    c_lo: u32,
    c_hi: u32,
    i_lo: u16,
    i_hi: u16,
}

const fn row(c_lo: u32, c_hi: u32, i_lo: u16, i_hi: u16) -> Row {
    Row {
        c_lo,
        c_hi,
        i_lo,
        i_hi,
    }
}

/// PM2.5, 24-hour, in tenths of µg/m³ (2024 revision: the first row's top moved from 12.0 to 9.0).
const PM25: [Row; 6] = [
    row(0, 90, 0, 50),
    row(91, 354, 51, 100),
    row(355, 554, 101, 150),
    row(555, 1254, 151, 200),
    row(1255, 2254, 201, 300),
    row(2255, 3254, 301, 500),
];

/// PM10, 24-hour, in µg/m³ (unchanged by the 2024 revision).
const PM10: [Row; 6] = [
    row(0, 54, 0, 50),
    row(55, 154, 51, 100),
    row(155, 254, 101, 150),
    row(255, 354, 151, 200),
    row(355, 424, 201, 300),
    row(425, 604, 301, 500),
];

/// Truncates a concentration to whole units of `1 / scale` µg/m³. A tiny allowance absorbs binary representation
/// (`35.4 * 10` must be 354, not 353.99...), far below the feed's own precision of 0.01.
fn truncate(concentration: f64, scale: f64) -> u32 {
    if !concentration.is_finite() || concentration <= 0.0 {
        return 0;
    }
    let units = (concentration * scale + 1e-9).floor();
    if units >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        units as u32
    }
}

fn interpolate(table: &[Row; 6], c: u32) -> u16 {
    let Some(r) = table.iter().find(|r| c <= r.c_hi) else {
        return 500;
    };
    // Every truncated value falls in a row: rows are contiguous in the truncation unit.
    let c = c.max(r.c_lo);
    let span_i = f64::from(r.i_hi - r.i_lo);
    let span_c = f64::from(r.c_hi - r.c_lo);
    let value = span_i / span_c * f64::from(c - r.c_lo) + f64::from(r.i_lo);
    // Nearest integer, halves up (values are non-negative).
    (value + 0.5).floor() as u16
}

/// The PM2.5 sub-index of a concentration in µg/m³.
pub fn pm25_index(concentration: f64) -> u16 {
    interpolate(&PM25, truncate(concentration, 10.0))
}

/// The PM10 sub-index of a concentration in µg/m³.
pub fn pm10_index(concentration: f64) -> u16 {
    interpolate(&PM10, truncate(concentration, 1.0))
}

/// The reading's AQI: the larger sub-index, or the one present; `None` with neither.
pub fn aqi(pm25: Option<f64>, pm10: Option<f64>) -> Option<u16> {
    pm25.map(pm25_index).max(pm10.map(pm10_index))
}

/// The category (0-based level) of an AQI value.
pub fn category(value: u16) -> u8 {
    CATEGORY_FLOORS.iter().take_while(|f| **f <= value).count() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of every PM2.5 breakpoint: the last concentration of a row and the first of the next, with the
    /// index values the table gives them (the row bounds themselves, by construction of the formula).
    #[test]
    fn every_pm25_breakpoint_from_both_sides() {
        let edges = [
            (9.0, 50, 9.1, 51),
            (35.4, 100, 35.5, 101),
            (55.4, 150, 55.5, 151),
            (125.4, 200, 125.5, 201),
            (225.4, 300, 225.5, 301),
        ];
        for (below, i_below, above, i_above) in edges {
            assert_eq!(pm25_index(below), i_below, "pm2.5 {below}");
            assert_eq!(pm25_index(above), i_above, "pm2.5 {above}");
            // Truncation, not rounding: anything up to the next tenth stays in the lower row.
            assert_eq!(pm25_index(below + 0.09), i_below, "pm2.5 {below}+0.09");
        }
        assert_eq!(pm25_index(0.0), 0);
        assert_eq!(pm25_index(325.4), 500);
        assert_eq!(pm25_index(325.5), 500, "beyond the table is 500");
        assert_eq!(pm25_index(899.0), 500);
    }

    #[test]
    fn every_pm10_breakpoint_from_both_sides() {
        let edges = [
            (54.0, 50, 55.0, 51),
            (154.0, 100, 155.0, 101),
            (254.0, 150, 255.0, 151),
            (354.0, 200, 355.0, 201),
            (424.0, 300, 425.0, 301),
        ];
        for (below, i_below, above, i_above) in edges {
            assert_eq!(pm10_index(below), i_below, "pm10 {below}");
            assert_eq!(pm10_index(above), i_above, "pm10 {above}");
            assert_eq!(pm10_index(below + 0.99), i_below, "pm10 {below}+0.99");
        }
        assert_eq!(pm10_index(604.0), 500);
        assert_eq!(pm10_index(1800.0), 500);
    }

    /// Worked examples: 35.9 µg/m³ PM2.5 is (150-101)/(55.4-35.5)*(35.9-35.5)+101 = 101.98 -> 102; 12.0 is
    /// (100-51)/(35.4-9.1)*(12.0-9.1)+51 = 56.4 -> 56 (it was 50 before the 2024 revision).
    #[test]
    fn interpolation_inside_a_row() {
        assert_eq!(pm25_index(35.9), 102);
        assert_eq!(pm25_index(12.0), 56);
        assert_eq!(pm25_index(4.5), 25);
        assert_eq!(pm10_index(100.0), 73); // 49/99*45+51 = 73.27
    }

    #[test]
    fn categories_at_their_edges_and_the_worse_pollutant() {
        let edges = [
            (50, 0),
            (51, 1),
            (100, 1),
            (101, 2),
            (150, 2),
            (151, 3),
            (200, 3),
            (201, 4),
        ];
        for (value, level) in edges {
            assert_eq!(category(value), level, "{value}");
        }
        assert_eq!(category(300), 4);
        assert_eq!(category(301), 5);
        assert_eq!(category(500), 5);
        assert_eq!(aqi(Some(9.0), Some(155.0)), Some(101));
        assert_eq!(aqi(Some(35.5), Some(10.0)), Some(101));
        assert_eq!(aqi(None, Some(0.0)), Some(0));
        assert_eq!(aqi(None, None), None);
    }
}

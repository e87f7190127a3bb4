//! The rows of each question as cells: a reading (readings, latest), the legacy CSV's shape of one, and an
//! aggregate.

use super::encode::{Cell, Columns};
use crate::index::IndexKind;
use crate::reading::Reading;

/// airq's reading columns (the CSV header every answer has had).
pub const READING_COLUMNS: Columns = Columns {
    names: &[
        "id",
        "sensor_id",
        "sensor_type",
        "location_id",
        "latitude",
        "longitude",
        "altitude",
        "country",
        "indoor",
        "timestamp",
        "pm10",
        "pm25",
        "aqi",
        "band",
    ],
    point: Some((4, 5)),
};

/// The legacy system's CSV columns, in its order (P1 is PM10, P2 is PM2.5).
pub const LEGACY_COLUMNS: Columns = Columns {
    names: &[
        "loc_alt",
        "P1",
        "P2",
        "loc_lat",
        "loc_country",
        "loc_id",
        "timestamp",
        "loc_long",
        "AQI",
        "Range",
        "id",
    ],
    point: Some((3, 7)),
};

fn opt_u(v: Option<u64>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::UInt)
}

fn opt_f(v: Option<f64>) -> Cell<'static> {
    v.map_or(Cell::Null, Cell::Num)
}

fn text(v: &str) -> Cell<'_> {
    if v.is_empty() {
        Cell::Null
    } else {
        Cell::Text(v)
    }
}

/// The value and category name of a reading on `index` (the stored DAQI, or computed from its PM values).
fn assessed(r: &Reading, index: IndexKind) -> (Cell<'static>, Cell<'static>) {
    match index {
        IndexKind::Daqi => (Cell::UInt(r.aqi.into()), Cell::Text(r.band.as_str())),
        other => match other.assess(r.pm25, r.pm10) {
            Some(a) => (
                Cell::UInt(a.value.into()),
                Cell::Text(other.category(a.level)),
            ),
            None => (Cell::Null, Cell::Null),
        },
    }
}

/// A reading's cells in [`READING_COLUMNS`] order.
pub fn reading_cells<'a>(r: &'a Reading, index: IndexKind) -> [Cell<'a>; 14] {
    let (aqi, band) = assessed(r, index);
    [
        opt_u(r.id),
        Cell::UInt(r.sensor_id),
        text(&r.sensor_type),
        opt_u(r.location_id),
        opt_f(r.latitude),
        opt_f(r.longitude),
        opt_f(r.altitude),
        text(&r.country),
        r.indoor.map_or(Cell::Null, Cell::Bool),
        Cell::Time(r.timestamp),
        opt_f(r.pm10),
        opt_f(r.pm25),
        aqi,
        band,
    ]
}

/// The legacy spelling of a band: `Medium` for Moderate, `_` for spaces (`Very_High`).
fn legacy_band(index: IndexKind, name: &'static str) -> &'static str {
    match (index, name) {
        (IndexKind::Daqi, "Moderate") => "Medium",
        (IndexKind::Daqi, "Very High") => "Very_High",
        (_, "Very Unhealthy") => "Very_Unhealthy",
        (_, "Unhealthy for Sensitive Groups") => "Unhealthy_for_Sensitive_Groups",
        (_, "Very poor") => "Very_poor",
        (_, "Extremely poor") => "Extremely_poor",
        (_, other) => other,
    }
}

/// A reading's cells in [`LEGACY_COLUMNS`] order.
pub fn legacy_cells<'a>(r: &'a Reading, index: IndexKind) -> [Cell<'a>; 11] {
    let (aqi, band) = assessed(r, index);
    let band = match band {
        Cell::Text(name) => Cell::Text(legacy_band(index, name)),
        other => other,
    };
    [
        opt_f(r.altitude),
        opt_f(r.pm10),
        opt_f(r.pm25),
        opt_f(r.latitude),
        text(&r.country),
        opt_u(r.location_id),
        Cell::Time(r.timestamp),
        opt_f(r.longitude),
        aqi,
        band,
        opt_u(r.id),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Band;

    #[test]
    fn legacy_bands_are_spelled_the_old_way() {
        let mut r = Reading {
            id: Some(6_169_764_730),
            sensor_id: 1,
            sensor_type: "SDS011".into(),
            location_id: Some(9),
            latitude: Some(48.1),
            longitude: Some(9.2),
            altitude: Some(300.0),
            country: "DE".into(),
            indoor: Some(false),
            timestamp: 0,
            pm10: Some(60.0),
            pm25: Some(5.0),
            aqi: 5,
            band: Band::Moderate,
        };
        let cells = legacy_cells(&r, IndexKind::Daqi);
        assert_eq!(cells[9], Cell::Text("Medium"));
        assert_eq!(cells[1], Cell::Num(60.0), "P1 is PM10");
        assert_eq!(cells[2], Cell::Num(5.0), "P2 is PM2.5");
        r.aqi = 10;
        r.band = Band::VeryHigh;
        assert_eq!(
            legacy_cells(&r, IndexKind::Daqi)[9],
            Cell::Text("Very_High")
        );
        assert_eq!(reading_cells(&r, IndexKind::UsEpa)[12], Cell::UInt(53));
    }
}

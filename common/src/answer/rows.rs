//! The rows of each question as cells: a reading (readings, latest) and the legacy CSV's shape of one, from a
//! [`RowRef`]: a reading's fields borrowed from a [`Reading`] or straight from a store's row, so encoding an
//! answer allocates nothing per row.

use super::encode::{Cell, Columns, Encoder, Format};
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

/// A reading's fields, borrowed. The SQLite store fills one from each row it reads (text cells point into the
/// row), without building a [`Reading`].
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    pub id: Option<u64>,
    pub sensor_id: u64,
    pub sensor_type: &'a str,
    pub location_id: Option<u64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
    pub country: &'a str,
    pub indoor: Option<bool>,
    pub timestamp: i64,
    pub pm10: Option<f64>,
    pub pm25: Option<f64>,
    /// The stored DAQI and its band's name.
    pub aqi: u8,
    pub band: &'a str,
}

impl<'a> From<&'a Reading> for RowRef<'a> {
    fn from(r: &'a Reading) -> RowRef<'a> {
        RowRef {
            id: r.id,
            sensor_id: r.sensor_id,
            sensor_type: &r.sensor_type,
            location_id: r.location_id,
            latitude: r.latitude,
            longitude: r.longitude,
            altitude: r.altitude,
            country: &r.country,
            indoor: r.indoor,
            timestamp: r.timestamp,
            pm10: r.pm10,
            pm25: r.pm25,
            aqi: r.aqi,
            band: r.band.as_str(),
        }
    }
}

fn text(v: &str) -> Cell<'_> {
    if v.is_empty() {
        Cell::Null
    } else {
        Cell::Text(v)
    }
}

/// The value and category name of a reading on `index` (the stored DAQI, or computed from its PM values).
fn assessed<'a>(r: &RowRef<'a>, index: IndexKind) -> (Cell<'a>, Cell<'a>) {
    match index {
        IndexKind::Daqi => (Cell::UInt(r.aqi.into()), Cell::Text(r.band)),
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
pub fn reading_cells<'a>(r: &RowRef<'a>, index: IndexKind) -> [Cell<'a>; 14] {
    let (aqi, band) = assessed(r, index);
    [
        opt_u(r.id),
        Cell::UInt(r.sensor_id),
        text(r.sensor_type),
        opt_u(r.location_id),
        opt_f(r.latitude),
        opt_f(r.longitude),
        opt_f(r.altitude),
        text(r.country),
        r.indoor.map_or(Cell::Null, Cell::Bool),
        Cell::Time(r.timestamp),
        opt_f(r.pm10),
        opt_f(r.pm25),
        aqi,
        band,
    ]
}

/// The legacy spelling of a band: `Medium` for Moderate, `_` for spaces (`Very_High`).
fn legacy_band(index: IndexKind, name: &str) -> &str {
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
pub fn legacy_cells<'a>(r: &RowRef<'a>, index: IndexKind) -> [Cell<'a>; 11] {
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
        text(r.country),
        opt_u(r.location_id),
        Cell::Time(r.timestamp),
        opt_f(r.longitude),
        aqi,
        band,
        opt_u(r.id),
    ]
}

/// Writes one reading in the encoder's format: the legacy CSV's shape for `legacy-csv`, airq's otherwise.
pub fn write_reading(encoder: &mut Encoder, out: &mut Vec<u8>, r: &RowRef<'_>, index: IndexKind) {
    if encoder.format() == Format::LegacyCsv {
        encoder.row(out, &legacy_cells(r, index));
    } else {
        encoder.row(out, &reading_cells(r, index));
    }
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
        let cells = legacy_cells(&(&r).into(), IndexKind::Daqi);
        assert_eq!(cells[9], Cell::Text("Medium"));
        assert_eq!(cells[1], Cell::Num(60.0), "P1 is PM10");
        assert_eq!(cells[2], Cell::Num(5.0), "P2 is PM2.5");
        r.aqi = 10;
        r.band = Band::VeryHigh;
        assert_eq!(
            legacy_cells(&(&r).into(), IndexKind::Daqi)[9],
            Cell::Text("Very_High")
        );
        assert_eq!(
            reading_cells(&(&r).into(), IndexKind::UsEpa)[12],
            Cell::UInt(53)
        );
    }
}

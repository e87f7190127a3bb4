//! The SQL of one page of an answer, by access path. Each path is an index that yields its rows already in the
//! answer order `(timestamp, sensor_id)`, so a page reads its own rows and never sorts or scans the table:
//!
//! | query names | path | index |
//! | --- | --- | --- |
//! | `id` | the ids | `readings_by_id (id)` (at most 100 rows, sorted) |
//! | `sensor_id` | one statement per sensor, merged | the primary key `(sensor_id, timestamp)` |
//! | `location_id` | one per location, merged | `readings_by_location (location_id, timestamp, sensor_id)` |
//! | a place, few sensors in it | one per sensor found in `sensor_places`, merged | the primary key |
//! | `country` | the country | `readings_by_country (country, timestamp, sensor_id, ...every column)`, covering |
//! | otherwise | the window | `readings_by_time (timestamp, sensor_id)` |
//!
//! Every other filter is a condition on the rows the path reads (band, index range, sensor type, the place's
//! box); the exact place test (a radius) and indices other than the stored DAQI are applied by
//! [`Query::matches`] after reading.

use rusqlite::types::Value;

use crate::query::Query;

/// What one statement reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    Time,
    Country(String),
    Sensor(i64),
    Location(i64),
    Ids(Vec<i64>),
}

pub const COLUMNS: &str =
    "id, sensor_id, sensor_type, location_id, latitude, longitude, altitude, country, indoor, \
                       timestamp, pm10, pm25, aqi, band";

/// The most sensors a place may resolve to and still be read sensor by sensor; a place holding more (a
/// continent) is read through the window (or country) with the place's box as a condition.
pub const MAX_PLACE_SENSORS: usize = 256;

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The access paths of a query that names keys; `None` when it names none (the caller decides between a place's
/// sensors and the window).
pub fn keyed_paths(query: &Query) -> Option<Vec<Access>> {
    if !query.ids.is_empty() {
        return Some(vec![Access::Ids(
            query.ids.iter().copied().map(as_i64).collect(),
        )]);
    }
    if !query.sensor_ids.is_empty() {
        return Some(
            query
                .sensor_ids
                .iter()
                .map(|s| Access::Sensor(as_i64(*s)))
                .collect(),
        );
    }
    if !query.location_ids.is_empty() {
        return Some(
            query
                .location_ids
                .iter()
                .map(|l| Access::Location(as_i64(*l)))
                .collect(),
        );
    }
    None
}

/// The path of a query read through its window.
pub fn window_path(query: &Query) -> Access {
    match &query.country {
        Some(country) => Access::Country(country.clone()),
        None => Access::Time,
    }
}

/// The statement that finds the sensors ever seen inside a place's box (a range of the small `sensor_places`
/// table's primary key), at most `MAX_PLACE_SENSORS + 1` of them so the caller can tell "too many".
pub fn place_sensors_sql(query: &Query) -> Option<(String, Vec<Value>)> {
    let bounds = query.place?.bounds();
    let mut sql =
        "SELECT DISTINCT sensor_id FROM sensor_places WHERE latitude BETWEEN ? AND ?".to_string();
    let mut values = vec![Value::Real(bounds.lat.0), Value::Real(bounds.lat.1)];
    if let Some((w, e)) = bounds.lon {
        sql.push_str(" AND longitude BETWEEN ? AND ?");
        values.push(Value::Real(w));
        values.push(Value::Real(e));
    }
    sql.push_str(&format!(" LIMIT {}", MAX_PLACE_SENSORS + 1));
    Some((sql, values))
}

/// The statement for one page of `access`: rows after `after` (the last row read by the previous page, in the
/// answer order), at most `limit` of them. Each page is its own short statement, so a page holds a pooled
/// connection only while it is read, never while the consumer (a slow client) waits.
pub fn page_sql(
    query: &Query,
    access: &Access,
    after: Option<(i64, i64)>,
    limit: usize,
) -> (String, Vec<Value>) {
    // A continuation starts the range at the last row's second (not at the window's start, which would make
    // every page walk all the rows before it), and skips that second's rows up to the last sensor.
    let from = after.map_or(query.start, |(timestamp, _)| timestamp.max(query.start));
    let mut sql = format!("SELECT {COLUMNS} FROM readings WHERE ");
    let mut values = Vec::new();
    match access {
        Access::Time => {}
        Access::Country(country) => {
            sql.push_str("country = ? AND ");
            values.push(Value::Text(country.clone()));
        }
        Access::Sensor(sensor) => {
            sql.push_str("sensor_id = ? AND ");
            values.push(Value::Integer(*sensor));
        }
        Access::Location(location) => {
            sql.push_str("location_id = ? AND ");
            values.push(Value::Integer(*location));
        }
        Access::Ids(ids) => {
            let marks = vec!["?"; ids.len()].join(", ");
            sql.push_str(&format!("id IN ({marks}) AND "));
            values.extend(ids.iter().map(|id| Value::Integer(*id)));
        }
    }
    sql.push_str("timestamp BETWEEN ? AND ?");
    values.push(Value::Integer(from));
    values.push(Value::Integer(query.end));
    if let Some((min, max, band)) = query.daqi_filters() {
        if (min, max) != (0, 10) {
            sql.push_str(" AND aqi BETWEEN ? AND ?");
            values.push(Value::Integer(min.into()));
            values.push(Value::Integer(max.into()));
        }
        if let Some(band) = band {
            sql.push_str(" AND band = ?");
            values.push(Value::Text(band.as_str().to_string()));
        }
    }
    if let (Some(country), false) = (&query.country, matches!(access, Access::Country(_))) {
        sql.push_str(" AND country = ?");
        values.push(Value::Text(country.clone()));
    }
    if !query.sensor_types.is_empty() {
        let marks = vec!["?"; query.sensor_types.len()].join(", ");
        sql.push_str(&format!(" AND sensor_type COLLATE NOCASE IN ({marks})"));
        values.extend(query.sensor_types.iter().map(|t| Value::Text(t.clone())));
    }
    if let Some(place) = &query.place {
        let bounds = place.bounds();
        sql.push_str(" AND latitude BETWEEN ? AND ?");
        values.push(Value::Real(bounds.lat.0));
        values.push(Value::Real(bounds.lat.1));
        if let Some((w, e)) = bounds.lon {
            sql.push_str(" AND longitude BETWEEN ? AND ?");
            values.push(Value::Real(w));
            values.push(Value::Real(e));
        }
    }
    if let Some((timestamp, sensor_id)) = after {
        sql.push_str(" AND (timestamp > ? OR sensor_id > ?)");
        values.push(Value::Integer(timestamp));
        values.push(Value::Integer(sensor_id));
    }
    sql.push_str(" ORDER BY timestamp, sensor_id LIMIT ?");
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    (sql, values)
}

//! `/api/aggregate`: count, mean, min and max of PM2.5 and PM10 per group (sensor, location or country) and
//! interval (an hour or a day, UTC), with the index of the means.
//!
//! The readings arrive in time order, so an interval is complete as soon as a reading of a later interval
//! arrives: each interval is written then and forgotten, and memory holds one interval's groups at a time
//! (at most the number of sensors), whatever the window.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::encode::{Cell, Columns};
use crate::index::IndexKind;
use crate::reading::Reading;
use crate::time::EpochSeconds;

/// What readings are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Sensor,
    Location,
    Country,
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<GroupBy> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sensor" | "sensor_id" => Some(GroupBy::Sensor),
            "location" | "location_id" => Some(GroupBy::Location),
            "country" => Some(GroupBy::Country),
            _ => None,
        }
    }

    pub fn columns(self) -> Columns {
        match self {
            GroupBy::Sensor => SENSOR_COLUMNS,
            GroupBy::Location => LOCATION_COLUMNS,
            GroupBy::Country => COUNTRY_COLUMNS,
        }
    }
}

/// The interval length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Every {
    #[default]
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "1d")]
    Day,
}

impl Every {
    pub fn parse(text: &str) -> Option<Every> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1h" | "hour" | "60m" => Some(Every::Hour),
            "1d" | "day" | "24h" => Some(Every::Day),
            _ => None,
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Every::Hour => 3600,
            Every::Day => 86_400,
        }
    }
}

macro_rules! aggregate_columns {
    ($($group:literal),*) => {
        &[
            "interval_start", "interval_end", $($group,)* "readings",
            "pm25_count", "pm25_mean", "pm25_min", "pm25_max",
            "pm10_count", "pm10_mean", "pm10_min", "pm10_max", "aqi", "band",
        ]
    };
}

const SENSOR_COLUMNS: Columns = Columns {
    names: aggregate_columns!("sensor_id", "latitude", "longitude"),
    point: Some((3, 4)),
};
const LOCATION_COLUMNS: Columns = Columns {
    names: aggregate_columns!("location_id", "latitude", "longitude"),
    point: Some((3, 4)),
};
const COUNTRY_COLUMNS: Columns = Columns {
    names: aggregate_columns!("country"),
    point: None,
};

/// The group of a reading: a number (sensor, location; `None` for no location) or a country code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Id(Option<u64>),
    Country(String),
}

#[derive(Debug, Default, Clone, Copy)]
struct Stat {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Stat {
    fn add(&mut self, v: Option<f64>) {
        let Some(v) = v else { return };
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
    }

    fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    fn cells(&self) -> [Cell<'static>; 4] {
        if self.count == 0 {
            return [Cell::UInt(0), Cell::Null, Cell::Null, Cell::Null];
        }
        [
            Cell::UInt(self.count),
            self.mean().map_or(Cell::Null, Cell::Num),
            Cell::Num(self.min),
            Cell::Num(self.max),
        ]
    }
}

#[derive(Debug, Default)]
struct Group {
    readings: u64,
    pm25: Stat,
    pm10: Stat,
    /// The last coordinates seen in the interval (a sensor that moved is shown where it was last).
    point: Option<(f64, f64)>,
}

/// Folds time-ordered readings into interval rows.
pub struct Aggregator {
    by: GroupBy,
    every: Every,
    index: IndexKind,
    interval: Option<EpochSeconds>,
    groups: BTreeMap<Key, Group>,
}

impl Aggregator {
    pub fn new(by: GroupBy, every: Every, index: IndexKind) -> Aggregator {
        Aggregator {
            by,
            every,
            index,
            interval: None,
            groups: BTreeMap::new(),
        }
    }

    /// Adds a reading; when it opens a new interval, the finished one's rows are passed to `emit` first.
    pub fn add(&mut self, r: &Reading, emit: &mut impl FnMut(&[Cell<'_>])) {
        let start = r.timestamp - r.timestamp.rem_euclid(self.every.seconds());
        if self.interval.is_some_and(|i| i != start) {
            self.flush(emit);
        }
        self.interval = Some(start);
        let key = match self.by {
            GroupBy::Sensor => Key::Id(Some(r.sensor_id)),
            GroupBy::Location => Key::Id(r.location_id),
            GroupBy::Country => Key::Country(r.country.clone()),
        };
        let group = self.groups.entry(key).or_default();
        group.readings += 1;
        group.pm25.add(r.pm25);
        group.pm10.add(r.pm10);
        if let (Some(lat), Some(lon)) = (r.latitude, r.longitude) {
            group.point = Some((lat, lon));
        }
    }

    /// Writes the interval in progress (at the end of the answer).
    pub fn flush(&mut self, emit: &mut impl FnMut(&[Cell<'_>])) {
        let Some(start) = self.interval.take() else {
            return;
        };
        let end = start + self.every.seconds();
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(17);
        for (key, g) in &self.groups {
            cells.clear();
            cells.push(Cell::Time(start));
            cells.push(Cell::Time(end));
            match key {
                Key::Id(id) => {
                    cells.push(id.map_or(Cell::Null, Cell::UInt));
                    let (lat, lon) = g.point.map_or((Cell::Null, Cell::Null), |(a, b)| {
                        (Cell::Num(a), Cell::Num(b))
                    });
                    cells.push(lat);
                    cells.push(lon);
                }
                Key::Country(c) if c.is_empty() => cells.push(Cell::Null),
                Key::Country(c) => cells.push(Cell::Text(c)),
            }
            cells.push(Cell::UInt(g.readings));
            cells.extend(g.pm25.cells());
            cells.extend(g.pm10.cells());
            match self.index.assess(g.pm25.mean(), g.pm10.mean()) {
                Some(a) => {
                    cells.push(Cell::UInt(a.value.into()));
                    cells.push(Cell::Text(self.index.category(a.level)));
                }
                None => cells.extend([Cell::Null, Cell::Null]),
            }
            emit(&cells);
        }
        self.groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Band;

    fn reading(
        ts: i64,
        sensor: u64,
        country: &str,
        pm25: Option<f64>,
        pm10: Option<f64>,
    ) -> Reading {
        Reading {
            id: None,
            sensor_id: sensor,
            sensor_type: "SDS011".into(),
            location_id: Some(sensor * 10),
            latitude: Some(48.0),
            longitude: Some(9.0),
            altitude: None,
            country: country.into(),
            indoor: None,
            timestamp: ts,
            pm10,
            pm25,
            aqi: 1,
            band: Band::Low,
        }
    }

    fn rows(agg: &mut Aggregator, readings: &[Reading]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut emit =
            |cells: &[Cell<'_>]| out.push(cells.iter().map(|c| format!("{c:?}")).collect());
        for r in readings {
            agg.add(r, &mut emit);
        }
        agg.flush(&mut emit);
        out
    }

    #[test]
    fn groups_per_interval_with_means_and_the_index_of_the_means() {
        let mut agg = Aggregator::new(GroupBy::Country, Every::Hour, IndexKind::Daqi);
        let out = rows(
            &mut agg,
            &[
                reading(0, 1, "DE", Some(10.0), None),
                reading(10, 2, "DE", Some(14.0), Some(30.0)),
                reading(20, 3, "AT", None, Some(20.0)),
                reading(3600, 1, "DE", Some(80.0), None),
            ],
        );
        assert_eq!(out.len(), 3, "{out:?}");
        // AT sorts before DE within the first hour.
        assert_eq!(out[0][2], "Text(\"AT\")");
        assert_eq!(out[1][2], "Text(\"DE\")");
        assert_eq!(out[1][3], "UInt(2)", "readings");
        assert_eq!(
            out[1][4..8],
            ["UInt(2)", "Num(12.0)", "Num(10.0)", "Num(14.0)"]
        );
        assert_eq!(
            out[1][8..12],
            ["UInt(1)", "Num(30.0)", "Num(30.0)", "Num(30.0)"]
        );
        // mean PM2.5 12 -> 2, PM10 30 -> 2: DAQI 2
        assert_eq!(out[1][12], "UInt(2)");
        assert_eq!(out[2][0], "Time(3600)");
        assert_eq!(out[2][1], "Time(7200)");
        assert_eq!(out[2][12], "UInt(10)");
    }

    #[test]
    fn days_and_sensors() {
        let mut agg = Aggregator::new(GroupBy::Sensor, Every::Day, IndexKind::Eaqi);
        let out = rows(
            &mut agg,
            &[
                reading(100, 2, "DE", Some(4.0), None),
                reading(90_000, 2, "DE", Some(6.0), None),
            ],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0][0], "Time(0)");
        assert_eq!(out[0][2], "UInt(2)");
        assert_eq!(out[0][3], "Num(48.0)");
        assert_eq!(out[0][15], "Text(\"Good\")");
        assert_eq!(out[1][15], "Text(\"Fair\")");
    }
}

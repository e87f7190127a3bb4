//! The key and place filters: `id`, `sensor_id`, `location_id`, `sensor_type` (one value or several), `bbox`
//! and `near`. Parsed here from either form (a string `"1,2"`, a number, or a JSON array), validated and
//! normalised (sorted, without repeats), so that two ways of writing one question are one query.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::QueryError;

/// The most values one list filter may hold: each value is one access to the store (a sensor's history, a
/// reading by id), so the cost of a query stays bounded by what the client can see it asked for.
pub const MAX_LIST: usize = 100;

/// Mean Earth radius (km, IUGG), for great-circle distances.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The largest `near` radius: half the Earth's circumference, beyond which every point is inside.
pub const MAX_RADIUS_KM: f64 = 20_016.0;

/// A place filter. A reading without coordinates never matches one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Place {
    /// A longitude/latitude box, edges included (GeoJSON's `bbox` order).
    Bbox {
        min_lon: f64,
        min_lat: f64,
        max_lon: f64,
        max_lat: f64,
    },
    /// Within `radius_km` (great-circle) of a point, the edge included.
    Near { lat: f64, lon: f64, radius_km: f64 },
}

/// A latitude/longitude box that holds a place: what a backend can test cheaply (an index range, a filter
/// expression) before the exact test. `lon` is `None` when the box would cross the antimeridian or a pole, so
/// that longitude cannot narrow anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub lat: (f64, f64),
    pub lon: Option<(f64, f64)>,
}

impl Place {
    /// Whether a point is in the place.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        match *self {
            Place::Bbox {
                min_lon,
                min_lat,
                max_lon,
                max_lat,
            } => (min_lat..=max_lat).contains(&lat) && (min_lon..=max_lon).contains(&lon),
            Place::Near {
                lat: lat0,
                lon: lon0,
                radius_km,
            } => distance_km(lat0, lon0, lat, lon) <= radius_km,
        }
    }

    /// A box around the place (exact for `bbox`; for `near`, the circle's box widened by a metre against
    /// rounding, so the cheap test never drops a point the exact one keeps).
    pub fn bounds(&self) -> Bounds {
        match *self {
            Place::Bbox {
                min_lon,
                min_lat,
                max_lon,
                max_lat,
            } => Bounds {
                lat: (min_lat, max_lat),
                lon: Some((min_lon, max_lon)),
            },
            Place::Near {
                lat,
                lon,
                radius_km,
            } => {
                let dlat = (radius_km + 0.001) / EARTH_RADIUS_KM * (180.0 / std::f64::consts::PI);
                let (lo, hi) = (lat - dlat, lat + dlat);
                let lat_range = (lo.max(-90.0), hi.min(90.0));
                // Past a pole every longitude is near; otherwise the widest longitude span is at the box's
                // latitude furthest from the equator.
                let far = lo.abs().max(hi.abs());
                if lo <= -90.0 || hi >= 90.0 || far >= 89.9 {
                    return Bounds {
                        lat: lat_range,
                        lon: None,
                    };
                }
                let dlon = dlat / far.to_radians().cos();
                let (w, e) = (lon - dlon, lon + dlon);
                Bounds {
                    lat: lat_range,
                    lon: (w >= -180.0 && e <= 180.0).then_some((w, e)),
                }
            }
        }
    }
}

/// Great-circle distance (haversine) in km.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// The items of a list filter: `"1,2"`, `1`, `["1", 2]`. Empty items are refused (a stray comma is a typo the
/// client should hear about, not a value).
fn items(field: &str, value: &Value) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    let mut push_text = |text: &str| -> Result<(), QueryError> {
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(QueryError::new(field, "has an empty item in its list"));
            }
            out.push(item.to_string());
        }
        Ok(())
    };
    match value {
        Value::String(s) => push_text(s)?,
        Value::Number(n) => push_text(&n.to_string())?,
        Value::Array(values) => {
            for v in values {
                match v {
                    Value::String(s) => push_text(s)?,
                    Value::Number(n) => push_text(&n.to_string())?,
                    _ => {
                        return Err(QueryError::new(
                            field,
                            "must be a list of numbers or strings",
                        ))
                    }
                }
            }
        }
        _ => {
            return Err(QueryError::new(
                field,
                "must be a value, a comma-separated list or an array",
            ))
        }
    }
    if out.len() > MAX_LIST {
        return Err(QueryError::new(
            field,
            format!("lists at most {MAX_LIST} values, got {}", out.len()),
        ));
    }
    Ok(out)
}

/// A list of ids (`id`, `sensor_id`, `location_id`): whole numbers, sorted, without repeats.
pub fn ids(field: &str, value: Option<Value>) -> Result<Vec<u64>, QueryError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut out = items(field, &value)?
        .into_iter()
        .map(|item| {
            item.parse::<u64>().map_err(|_| {
                QueryError::new(
                    field,
                    format!("must be whole numbers such as 6169764730, got {item:?}"),
                )
            })
        })
        .collect::<Result<Vec<u64>, QueryError>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Sensor types (`SDS011,PMS5003`): letters, digits, `-`, `_`, `.`, at most 32 characters; matched ignoring case,
/// kept upper case, sorted, without repeats.
pub fn sensor_types(field: &str, value: Option<Value>) -> Result<Vec<String>, QueryError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items(field, &value)? {
        let ok = item.len() <= 32
            && item
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(QueryError::new(
                field,
                format!("must be sensor type names such as SDS011, got {item:?}"),
            ));
        }
        out.push(item.to_ascii_uppercase());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Exactly `n` finite numbers, from `"a,b,c"` or `[a, b, c]`.
fn numbers(field: &str, value: &Value, n: usize, shape: &str) -> Result<Vec<f64>, QueryError> {
    let wrong = || QueryError::new(field, format!("must be {shape}"));
    let values = items(field, value).map_err(|_| wrong())?;
    if values.len() != n {
        return Err(wrong());
    }
    values
        .iter()
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(wrong)
        })
        .collect()
}

fn check_lat(field: &str, lat: f64) -> Result<(), QueryError> {
    if (-90.0..=90.0).contains(&lat) {
        Ok(())
    } else {
        Err(QueryError::new(
            field,
            format!("latitude {lat} is outside -90..90"),
        ))
    }
}

fn check_lon(field: &str, lon: f64) -> Result<(), QueryError> {
    if (-180.0..=180.0).contains(&lon) {
        Ok(())
    } else {
        Err(QueryError::new(
            field,
            format!("longitude {lon} is outside -180..180"),
        ))
    }
}

/// `bbox=min_lon,min_lat,max_lon,max_lat`.
pub fn bbox(field: &str, value: &Value) -> Result<Place, QueryError> {
    let v = numbers(
        field,
        value,
        4,
        "four numbers min_lon,min_lat,max_lon,max_lat such as 9.0,48.7,9.3,48.9",
    )?;
    let (min_lon, min_lat, max_lon, max_lat) = (v[0], v[1], v[2], v[3]);
    check_lon(field, min_lon)?;
    check_lon(field, max_lon)?;
    check_lat(field, min_lat)?;
    check_lat(field, max_lat)?;
    if min_lat > max_lat || min_lon > max_lon {
        return Err(QueryError::new(
            field,
            "minimum longitude and latitude must not exceed the maximum ones",
        ));
    }
    Ok(Place::Bbox {
        min_lon,
        min_lat,
        max_lon,
        max_lat,
    })
}

/// `near=lat,lon,radius_km`.
pub fn near(field: &str, value: &Value) -> Result<Place, QueryError> {
    let v = numbers(
        field,
        value,
        3,
        "three numbers lat,lon,radius_km such as 48.78,9.18,10",
    )?;
    let (lat, lon, radius_km) = (v[0], v[1], v[2]);
    check_lat(field, lat)?;
    check_lon(field, lon)?;
    if !(radius_km > 0.0 && radius_km <= MAX_RADIUS_KM) {
        return Err(QueryError::new(
            field,
            format!("radius_km must be above 0 and at most {MAX_RADIUS_KM}, got {radius_km}"),
        ));
    }
    Ok(Place::Near {
        lat,
        lon,
        radius_km,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_in_every_shape_are_one_normal_form() {
        for v in [json!("3,1,2,1"), json!([3, "1", 2]), json!(["3,1", 2])] {
            assert_eq!(ids("sensor_id", Some(v)).expect("ok"), vec![1, 2, 3]);
        }
        assert_eq!(
            ids("id", Some(json!(6169764730u64))).expect("ok"),
            vec![6169764730]
        );
        for bad in [
            json!("1,,2"),
            json!("x"),
            json!("-1"),
            json!(true),
            json!([[1]]),
        ] {
            assert_eq!(
                ids("sensor_id", Some(bad)).expect_err("bad").field,
                "sensor_id"
            );
        }
        let many: Vec<u64> = (0..=MAX_LIST as u64).collect();
        assert_eq!(
            ids("location_id", Some(json!(many)))
                .expect_err("long")
                .field,
            "location_id"
        );
        assert_eq!(
            sensor_types("sensor_type", Some(json!("pms5003, SDS011,sds011"))).expect("ok"),
            vec!["PMS5003", "SDS011"]
        );
        assert!(sensor_types("sensor_type", Some(json!("=cmd()"))).is_err());
    }

    #[test]
    fn places_parse_and_validate() {
        assert_eq!(
            bbox("bbox", &json!("9.0,48.7,9.3,48.9")).expect("ok"),
            Place::Bbox {
                min_lon: 9.0,
                min_lat: 48.7,
                max_lon: 9.3,
                max_lat: 48.9
            }
        );
        for bad in [
            "9,48,9.3",
            "9.3,48,9.0,49",
            "9,91,10,92",
            "181,0,182,1",
            "a,b,c,d",
            "NaN,0,1,1",
        ] {
            assert_eq!(bbox("bbox", &json!(bad)).expect_err(bad).field, "bbox");
        }
        assert!(near("near", &json!([48.78, 9.18, 10])).is_ok());
        for bad in [
            "48,9",
            "48,9,0",
            "48,9,-1",
            "91,9,1",
            "48,200,1",
            "48,9,30000",
        ] {
            assert_eq!(near("near", &json!(bad)).expect_err(bad).field, "near");
        }
    }

    /// Stuttgart to Esslingen is about 10.5 km; the circle's box holds every point the circle holds.
    #[test]
    fn distance_and_bounds() {
        let d = distance_km(48.7758, 9.1829, 48.7406, 9.3108);
        assert!((d - 10.2).abs() < 0.5, "{d}");
        let place = Place::Near {
            lat: 48.7758,
            lon: 9.1829,
            radius_km: 10.0,
        };
        assert!(!place.contains(48.7406, 9.3108));
        assert!(place.contains(48.78, 9.2));
        let b = place.bounds();
        let (w, e) = b.lon.expect("a longitude range");
        for i in 0..360 {
            let a = f64::from(i).to_radians();
            // Points on the circle (10 km), found by walking out from the centre.
            let (lat, lon) = (48.7758 + 0.0899 * a.sin(), 9.1829 + 0.1366 * a.cos());
            if place.contains(lat, lon) {
                assert!(
                    lat >= b.lat.0 && lat <= b.lat.1 && lon >= w && lon <= e,
                    "{lat} {lon}"
                );
            }
        }
        let polar = Place::Near {
            lat: 89.95,
            lon: 0.0,
            radius_km: 50.0,
        };
        assert_eq!(polar.bounds().lon, None);
        let dateline = Place::Near {
            lat: 0.0,
            lon: 179.99,
            radius_km: 50.0,
        };
        assert_eq!(dateline.bounds().lon, None);
        assert!(dateline.contains(0.0, -179.99));
    }
}

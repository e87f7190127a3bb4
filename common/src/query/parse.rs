//! The two parsers at the edge: the legacy JSON body and URL parameters, into a [`Query`]. Every error names
//! the field as the client named it.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::error::Category;
use serde_json::{Map, Value};

use super::{filters, Query, QueryError, QueryFields, ALL_TIME, MIN_AQI};
use crate::index::IndexKind;
use crate::time::{format_rfc3339, parse_query_timestamp, EpochSeconds};

/// Where a query came from, so that an error names a field the way that client names it: a GET client that left
/// out `start` is told about `start`, not the legacy body's `startDate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// The legacy JSON body of `POST /api/query`.
    Json,
    /// The URL parameters of `GET /api/query`.
    Params,
}

/// The names of one field: the legacy body's and the URL parameter's. Both forms accept both names (old clients
/// mix them); the form decides which one an error uses when the client sent neither.
#[derive(Debug, Clone, Copy)]
struct Names {
    json: &'static str,
    param: &'static str,
}

impl Names {
    fn of(self, form: Form) -> &'static str {
        match form {
            Form::Json => self.json,
            Form::Params => self.param,
        }
    }

    /// The accepted names, the form's own first.
    fn in_order(self, form: Form) -> [&'static str; 2] {
        match form {
            Form::Json => [self.json, self.param],
            Form::Params => [self.param, self.json],
        }
    }
}

const START: Names = Names {
    json: "startDate",
    param: "start",
};
const END: Names = Names {
    json: "endDate",
    param: "end",
};
const COUNTRY: Names = Names {
    json: "country",
    param: "country",
};
const BAND: Names = Names {
    json: "range",
    param: "band",
};
const MIN: Names = Names {
    json: "minAqi",
    param: "min_aqi",
};
const MAX: Names = Names {
    json: "maxAqi",
    param: "max_aqi",
};
const INDEX: Names = Names::same("index");
const ID: Names = Names::same("id");
const SENSOR: Names = Names::same("sensor_id");
const LOCATION: Names = Names::same("location_id");
const SENSOR_TYPE: Names = Names::same("sensor_type");
const BBOX: Names = Names::same("bbox");
const NEAR: Names = Names::same("near");
const FIELDS: [Names; 13] = [
    START,
    END,
    COUNTRY,
    BAND,
    MIN,
    MAX,
    INDEX,
    ID,
    SENSOR,
    LOCATION,
    SENSOR_TYPE,
    BBOX,
    NEAR,
];

impl Names {
    const fn same(name: &'static str) -> Names {
        Names {
            json: name,
            param: name,
        }
    }
}

/// How a question reads its parameters besides the query's own.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions<'a> {
    /// Parameters of the question (`format`, `by`, `every`) that the caller takes; any other unknown name is
    /// refused.
    pub extras: &'a [&'static str],
    /// The window when the client names neither `start` nor `end` (`/api/latest`: the last hour of data).
    /// Without it a window is required, except for a query keyed by id, sensor or location ([`ALL_TIME`]).
    pub default_window: Option<(EpochSeconds, EpochSeconds)>,
}

/// A parsed request: the query, and the extras the client gave (name, text), in the order of `extras`.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub query: Query,
    pub extras: Vec<(&'static str, String)>,
}

impl Parsed {
    /// The value of an extra parameter, if given.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extras
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Query {
    /// Parses the legacy JSON body:
    /// `{"startDate": "2024-01-01 00:00:00", "endDate": "...", "country": "DE", "range": "Low", "minAqi": 0, "maxAqi": 10}`.
    /// Timestamps may also be RFC 3339. Empty strings and nulls mean "not given" (the legacy web form sends them).
    /// A key given twice is refused naming it, as in [`from_params`](Query::from_params).
    pub fn from_json(body: &[u8]) -> Result<Query, QueryError> {
        Self::parse_json(body, ParseOptions::default()).map(|p| p.query)
    }

    /// [`from_json`](Query::from_json) with a question's extra parameters and window rule.
    pub fn parse_json(body: &[u8], options: ParseOptions<'_>) -> Result<Parsed, QueryError> {
        let Body { map, repeated } =
            serde_json::from_slice(body).map_err(|e| match e.classify() {
                Category::Data => QueryError::new("body", "must be a JSON object"),
                _ => QueryError::new("body", format!("not valid JSON: {e}")),
            })?;
        if let Some(key) = repeated {
            return Err(QueryError::new(named(&key), "given more than once"));
        }
        Self::from_map(map, Form::Json, options)
    }

    /// Parses URL query parameters (`start`, `end`, `country`, `band`, `min_aqi`, `max_aqi`, `index`, `id`,
    /// `sensor_id`, `location_id`, `sensor_type`, `bbox`, `near`; the legacy names are accepted too). Errors name
    /// the parameters, not the body's fields.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Query, QueryError> {
        Self::parse_params(params, ParseOptions::default()).map(|p| p.query)
    }

    /// [`from_params`](Query::from_params) with a question's extra parameters and window rule.
    pub fn parse_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        options: ParseOptions<'_>,
    ) -> Result<Parsed, QueryError> {
        let mut map = Map::new();
        for (key, value) in params {
            if map
                .insert(key.to_string(), Value::String(value.to_string()))
                .is_some()
            {
                return Err(QueryError::new(named(key), "given more than once"));
            }
        }
        Self::from_map(map, Form::Params, options)
    }

    /// Parses the fields of either form; errors name fields as `form` names them, or as the client sent them.
    fn from_map(
        mut map: Map<String, Value>,
        form: Form,
        options: ParseOptions<'_>,
    ) -> Result<Parsed, QueryError> {
        let known = |key: &str| {
            FIELDS.iter().any(|n| n.json == key || n.param == key) || options.extras.contains(&key)
        };
        if let Some(unknown) = map.keys().find(|k| !known(k)) {
            let what = match unknown.as_str() {
                "" => "a field without a name",
                _ => "unknown field",
            };
            let mut expected: Vec<&str> = FIELDS.iter().map(|n| n.of(form)).collect();
            expected.extend(options.extras);
            return Err(QueryError::new(
                named(unknown),
                format!("{what}; expected {}", expected.join(", ")),
            ));
        }
        let mut extras = Vec::new();
        for name in options.extras {
            match map.remove(*name) {
                None | Some(Value::Null) => {}
                Some(value) => {
                    let text = as_text(name, &value)?;
                    if !text.is_empty() {
                        extras.push((*name, text.to_string()));
                    }
                }
            }
        }
        let (start_name, start) = take(&mut map, START, form)?;
        let (end_name, end) = take(&mut map, END, form)?;
        let (country_name, country) = take(&mut map, COUNTRY, form)?;
        let (band_name, band) = take(&mut map, BAND, form)?;
        let (min_name, min) = take(&mut map, MIN, form)?;
        let (max_name, max) = take(&mut map, MAX, form)?;
        let (index_name, index) = take(&mut map, INDEX, form)?;
        let (_, ids) = take(&mut map, ID, form)?;
        let (_, sensor_ids) = take(&mut map, SENSOR, form)?;
        let (_, location_ids) = take(&mut map, LOCATION, form)?;
        let (_, sensor_types) = take(&mut map, SENSOR_TYPE, form)?;
        let (_, bbox) = take(&mut map, BBOX, form)?;
        let (_, near) = take(&mut map, NEAR, form)?;

        let ids = filters::ids(ID.param, ids)?;
        let sensor_ids = filters::ids(SENSOR.param, sensor_ids)?;
        let location_ids = filters::ids(LOCATION.param, location_ids)?;
        let sensor_types = filters::sensor_types(SENSOR_TYPE.param, sensor_types)?;
        let place = match (bbox, near) {
            (Some(_), Some(_)) => {
                return Err(QueryError::new(
                    NEAR.param,
                    "given together with bbox; use one place filter",
                ))
            }
            (Some(b), None) => Some(filters::bbox(BBOX.param, &b)?),
            (None, Some(n)) => Some(filters::near(NEAR.param, &n)?),
            (None, None) => None,
        };
        let keyed = !(ids.is_empty() && sensor_ids.is_empty() && location_ids.is_empty());
        let default_window = options.default_window.or(keyed.then_some(ALL_TIME));

        let (start, end) = match (start, end, default_window) {
            (None, None, Some(window)) => window,
            (start, end, window) => {
                let start = match (start, window) {
                    (None, Some((s, _))) => s,
                    (start, _) => timestamp(start_name, start)?,
                };
                let end = match (end, window) {
                    (None, Some((_, e))) => e,
                    (end, _) => timestamp(end_name, end)?,
                };
                (start, end)
            }
        };
        if start > end {
            return Err(QueryError::new(
                end_name,
                format!(
                    "must not be before {start_name} ({} > {})",
                    format_rfc3339(start),
                    format_rfc3339(end)
                ),
            ));
        }
        let index = match index {
            None => IndexKind::Daqi,
            Some(v) => as_text(index_name, &v)?
                .parse::<IndexKind>()
                .map_err(|e| QueryError::new(index_name, e.to_string()))?,
        };
        let country = match country {
            None => None,
            Some(v) => {
                let text = as_text(country_name, &v)?;
                if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(QueryError::new(
                        country_name,
                        format!("must be a two-letter country code such as DE, got {text:?}"),
                    ));
                }
                Some(text.to_ascii_uppercase())
            }
        };
        let band = match band {
            None => None,
            Some(v) => {
                let text = as_text(band_name, &v)?;
                let level = index.parse_category(text).ok_or_else(|| {
                    QueryError::new(
                        band_name,
                        format!(
                            "unknown band {text:?} on {index}; expected one of {}",
                            index.categories().join(", ")
                        ),
                    )
                })?;
                Some(level)
            }
        };
        let (lo, hi) = index.bounds();
        let min_aqi = aqi(min_name, min, index)?.unwrap_or(if index == IndexKind::Daqi {
            MIN_AQI
        } else {
            lo
        });
        let max_aqi = aqi(max_name, max, index)?.unwrap_or(hi);
        if min_aqi > max_aqi {
            return Err(QueryError::new(
                max_name,
                format!("must not be below {min_name} ({min_aqi} > {max_aqi})"),
            ));
        }
        // Checked above field by field, so that errors name what the client sent; `validate` cannot fail here
        // but is the one constructor.
        let query = QueryFields {
            start,
            end,
            country,
            band,
            min_aqi,
            max_aqi,
            index,
            ids,
            sensor_ids,
            location_ids,
            sensor_types,
            place,
        }
        .validate()?;
        Ok(Parsed { query, extras })
    }
}

/// The legacy body's top-level object, read key by key. `serde_json::Map` keeps only the last value of a key
/// given twice, so `{"startDate": A, ..., "startDate": B}` would quietly mean B; whoever wrote it meant one of
/// the two, and we cannot know which.
struct Body {
    /// Each key with its first value.
    map: Map<String, Value>,
    /// The first key seen twice (decoded, so `"\u0073tart"` repeats `"start"`).
    repeated: Option<String>,
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Body, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Body, A::Error> {
                let mut body = Body {
                    map: Map::new(),
                    repeated: None,
                };
                // Read to the end even after a repeat, so that a syntax error later is still reported as one.
                while let Some(key) = entries.next_key::<String>()? {
                    let value: Value = entries.next_value()?;
                    if body.map.contains_key(&key) {
                        body.repeated.get_or_insert(key);
                    } else {
                        body.map.insert(key, value);
                    }
                }
                Ok(body)
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// The field to name in an error: a key without a name (`?=x`, `{"": 1}`) is reported as `query` (an empty
/// `field` would point the client nowhere; found by a property test).
fn named(key: &str) -> &str {
    if key.is_empty() {
        "query"
    } else {
        key
    }
}

/// Removes a field by any of its names; two names for one field is an error. Null and "" count as absent.
/// Returns the name the client used, or the form's own name for the field when the client sent none.
fn take(
    map: &mut Map<String, Value>,
    names: Names,
    form: Form,
) -> Result<(&'static str, Option<Value>), QueryError> {
    let mut found: Option<(&'static str, Value)> = None;
    // COUNTRY has one name for both forms: look it up once.
    let accepted = names.in_order(form);
    let accepted = if accepted[0] == accepted[1] {
        &accepted[..1]
    } else {
        &accepted[..]
    };
    for name in accepted {
        if let Some(value) = map.remove(*name) {
            if let Some((first, _)) = &found {
                return Err(QueryError::new(
                    name,
                    format!("given together with {first}; use one"),
                ));
            }
            found = Some((name, value));
        }
    }
    Ok(match found {
        None => (names.of(form), None),
        Some((name, Value::Null)) => (name, None),
        Some((name, Value::String(s))) if s.trim().is_empty() => (name, None),
        Some((name, value)) => (name, Some(value)),
    })
}

fn as_text<'v>(field: &str, value: &'v Value) -> Result<&'v str, QueryError> {
    value
        .as_str()
        .map(str::trim)
        .ok_or_else(|| QueryError::new(field, "must be a string"))
}

fn timestamp(field: &str, value: Option<Value>) -> Result<EpochSeconds, QueryError> {
    let value = value.ok_or_else(|| QueryError::new(field, "is required"))?;
    let text = as_text(field, &value)?;
    parse_query_timestamp(text).ok_or_else(|| {
        QueryError::new(
            field,
            format!("must be a timestamp like 2019-04-16T14:00:00Z or 2019-04-16 14:00:00, got {text:?}"),
        )
    })
}

fn aqi(field: &str, value: Option<Value>, index: IndexKind) -> Result<Option<u16>, QueryError> {
    let Some(value) = value else { return Ok(None) };
    let number = match &value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let (lo, hi) = index.bounds();
    let lo = if index == IndexKind::Daqi {
        MIN_AQI
    } else {
        lo
    };
    match number {
        Some(n) if n.fract() == 0.0 && (f64::from(lo)..=f64::from(hi)).contains(&n) => {
            Ok(Some(n as u16))
        }
        _ => Err(QueryError::new(
            field,
            format!("must be a whole number from {lo} to {hi} on {index}, got {value}"),
        )),
    }
}

//! The query model: what a client may ask for, parsed from the legacy JSON body or URL parameters, validated.
//!
//! Semantics: `start <= timestamp <= end`, country equal (case-insensitive), band equal, `min_aqi <= aqi <=
//! max_aqi` (band and index on the chosen `index`, DAQI by default), and the key and place filters of
//! [`filters`]: reading id, sensor id, location id, sensor type (each one of a list), a box or a radius. Every
//! validation error names the field the client sent, so the gateway can answer a 400 that says exactly what to fix.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::error::Category;
use serde_json::{Map, Value};

use crate::index::{Band, IndexKind};
use crate::reading::Reading;
use crate::time::{format_rfc3339, parse_query_timestamp, EpochSeconds};

pub mod filters;
pub use filters::Place;

/// The lowest and highest DAQI a query may name. Legacy clients send `"minAqi": 0`, so 0 is allowed.
pub const MIN_AQI: u16 = 0;
pub const MAX_AQI: u16 = 10;

/// The window of a query keyed by reading, sensor or location that names no `start`/`end`: all time (the
/// answer is bounded by the key, not by the store).
pub const ALL_TIME: (EpochSeconds, EpochSeconds) = (0, 253_402_300_799); // 9999-12-31T23:59:59Z

/// The fields of a query, as written in a job and readable on every [`Query`]. Building a [`Query`] from them
/// ([`QueryFields::validate`], or deserializing one) checks them, so an invalid query cannot exist.
///
/// New filters are optional in the serialized form, so a job written by an older gateway still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryFields {
    pub start: EpochSeconds,
    pub end: EpochSeconds,
    /// Upper-case ISO 3166 alpha-2, or `None` for all countries.
    pub country: Option<String>,
    /// A category of `index` (0-based from the best; for DAQI the [`Band`] in order).
    pub band: Option<u8>,
    pub min_aqi: u16,
    pub max_aqi: u16,
    /// The index that `band`, `min_aqi` and `max_aqi` (and the answer's `aqi`/`band` columns) refer to.
    #[serde(default, skip_serializing_if = "IndexKind::is_default")]
    pub index: IndexKind,
    /// Reading ids (the feed's measurement id), sorted, unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensor_ids: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location_ids: Vec<u64>,
    /// Upper case, sorted, unique; matched ignoring case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensor_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
}

/// A validated query: valid by construction. It is built only by the parsers at the edge
/// ([`from_json`](Query::from_json), [`from_params`](Query::from_params)) or from [`QueryFields::validate`], which
/// deserialization goes through too, so a queued job cannot carry a query the gateway would have refused and the
/// worker never checks again. Its fields are read through `Deref` and cannot be changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "QueryFields", into = "QueryFields")]
pub struct Query(QueryFields);

impl std::ops::Deref for Query {
    type Target = QueryFields;
    fn deref(&self) -> &QueryFields {
        &self.0
    }
}

impl From<Query> for QueryFields {
    fn from(q: Query) -> QueryFields {
        q.0
    }
}

impl TryFrom<QueryFields> for Query {
    type Error = QueryError;
    fn try_from(fields: QueryFields) -> Result<Query, QueryError> {
        fields.validate()
    }
}

impl QueryFields {
    /// Checks the fields (by their canonical names) and normalises the country to upper case.
    pub fn validate(mut self) -> Result<Query, QueryError> {
        if self.start > self.end {
            return Err(QueryError::new("end", "must not be before start"));
        }
        if let Some(country) = &mut self.country {
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(QueryError::new(
                    "country",
                    format!("must be a two-letter country code such as DE, got {country:?}"),
                ));
            }
            country.make_ascii_uppercase();
        }
        let (lo, hi) = self.index.bounds();
        for (name, v) in [("min_aqi", self.min_aqi), ("max_aqi", self.max_aqi)] {
            // DAQI's 0 is a legacy spelling of "no lower bound"; other indices start where they start.
            if v > hi || (v < lo && !(self.index == IndexKind::Daqi && v == 0)) {
                return Err(QueryError::new(
                    name,
                    format!("must be a whole number from {lo} to {hi} on {}", self.index),
                ));
            }
        }
        if self.min_aqi > self.max_aqi {
            return Err(QueryError::new("max_aqi", "must not be below min_aqi"));
        }
        if self
            .band
            .is_some_and(|b| usize::from(b) >= self.index.categories().len())
        {
            return Err(QueryError::new(
                "band",
                format!("is not a band of {}", self.index),
            ));
        }
        for (name, len) in [
            ("id", self.ids.len()),
            ("sensor_id", self.sensor_ids.len()),
            ("location_id", self.location_ids.len()),
            ("sensor_type", self.sensor_types.len()),
        ] {
            if len > filters::MAX_LIST {
                return Err(QueryError::new(
                    name,
                    format!("lists at most {} values", filters::MAX_LIST),
                ));
            }
        }
        Ok(Query(self))
    }
}

impl Query {
    /// Every reading in `start..=end`, any country, band and index.
    pub fn window(start: EpochSeconds, end: EpochSeconds) -> Result<Query, QueryError> {
        QueryFields {
            start,
            end,
            country: None,
            band: None,
            min_aqi: MIN_AQI,
            max_aqi: MAX_AQI,
            index: IndexKind::Daqi,
            ids: Vec::new(),
            sensor_ids: Vec::new(),
            location_ids: Vec::new(),
            sensor_types: Vec::new(),
            place: None,
        }
        .validate()
    }

    /// A copy of the fields, to build a variant of this query (`QueryFields { band, ..q.to_fields() }`).
    pub fn to_fields(&self) -> QueryFields {
        self.0.clone()
    }
}

/// A query the client got wrong: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct QueryError {
    /// The field as the client named it (`startDate`, `min_aqi`, ...), or `body` for the body as a whole.
    pub field: String,
    pub message: String,
}

impl QueryError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        QueryError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

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

    /// Whether a reading answers this query. Backends filter natively; this is the reference they must agree with
    /// (and the last step of every backend's page, so a cheap native test may let through more than it keeps).
    pub fn matches(&self, reading: &Reading) -> bool {
        let q = &self.0;
        if reading.timestamp < q.start || reading.timestamp > q.end {
            return false;
        }
        if !q
            .country
            .as_deref()
            .is_none_or(|c| reading.country.eq_ignore_ascii_case(c))
        {
            return false;
        }
        let (value, level) = match q.index {
            IndexKind::Daqi => (u16::from(reading.aqi), reading.band as u8),
            other => match other.assess(reading.pm25, reading.pm10) {
                Some(a) => (a.value, a.level),
                None => return false,
            },
        };
        if value < q.min_aqi || value > q.max_aqi || q.band.is_some_and(|b| b != level) {
            return false;
        }
        if !q.ids.is_empty()
            && reading
                .id
                .is_none_or(|id| q.ids.binary_search(&id).is_err())
        {
            return false;
        }
        if !q.sensor_ids.is_empty() && q.sensor_ids.binary_search(&reading.sensor_id).is_err() {
            return false;
        }
        if !q.location_ids.is_empty()
            && reading
                .location_id
                .is_none_or(|id| q.location_ids.binary_search(&id).is_err())
        {
            return false;
        }
        if !q.sensor_types.is_empty()
            && !q
                .sensor_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&reading.sensor_type))
        {
            return false;
        }
        match (&q.place, reading.latitude, reading.longitude) {
            (None, _, _) => true,
            (Some(place), Some(lat), Some(lon)) => place.contains(lat, lon),
            (Some(_), _, _) => false,
        }
    }

    /// The DAQI filters a backend may apply natively (its stored `aqi` and `band` are DAQI's): the index range
    /// and the band, or `None` when the query is on another index (the backend then reads the window and
    /// [`matches`](Query::matches) decides).
    pub fn daqi_filters(&self) -> Option<(u8, u8, Option<Band>)> {
        if self.index != IndexKind::Daqi {
            return None;
        }
        let clamp = |v: u16| u8::try_from(v).unwrap_or(u8::MAX);
        Some((
            clamp(self.min_aqi),
            clamp(self.max_aqi),
            self.band.map(Band::of_level),
        ))
    }

    /// The normal form of the query as text: equal for two queries exactly when they ask the same thing (the
    /// parsers sort and deduplicate lists and upper-case codes), for cache keys and entity tags.
    pub fn normal_form(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
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

#[cfg(test)]
mod tests;

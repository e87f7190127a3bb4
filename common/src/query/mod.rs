//! The query model: what a client may ask for, parsed from the legacy JSON body or URL parameters, validated.
//!
//! Semantics: `start <= timestamp <= end`, country equal (case-insensitive), band equal, `min_aqi <= aqi <=
//! max_aqi`. Every validation error names the field the client sent, so the gateway can answer a 400 that says
//! exactly what to fix.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::error::Category;
use serde_json::{Map, Value};

use crate::index::Band;
use crate::reading::Reading;
use crate::time::{format_rfc3339, parse_query_timestamp, EpochSeconds};

/// The lowest and highest index a query may name. Legacy clients send `"minAqi": 0`, so 0 is allowed.
pub const MIN_AQI: u8 = 0;
pub const MAX_AQI: u8 = 10;

/// The fields of a query, as written in a job and readable on every [`Query`]. Building a [`Query`] from them
/// ([`QueryFields::validate`], or deserializing one) checks them, so an invalid query cannot exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryFields {
    pub start: EpochSeconds,
    pub end: EpochSeconds,
    /// Upper-case ISO 3166 alpha-2, or `None` for all countries.
    pub country: Option<String>,
    pub band: Option<Band>,
    pub min_aqi: u8,
    pub max_aqi: u8,
}

/// A validated query: valid by construction. It is built only by the parsers at the edge
/// ([`from_json`](Query::from_json), [`from_params`](Query::from_params)) or from [`QueryFields::validate`], which
/// deserialization goes through too, so a queued job cannot carry a query the gateway would have refused and the
/// worker never checks again. Its fields are read through `Deref` and cannot be changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        if self.max_aqi > MAX_AQI || self.min_aqi > MAX_AQI {
            return Err(QueryError::new(
                "max_aqi",
                format!("must be a whole number from {MIN_AQI} to {MAX_AQI}"),
            ));
        }
        if self.min_aqi > self.max_aqi {
            return Err(QueryError::new("max_aqi", "must not be below min_aqi"));
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
const FIELDS: [Names; 6] = [START, END, COUNTRY, BAND, MIN, MAX];

impl Query {
    /// Parses the legacy JSON body:
    /// `{"startDate": "2024-01-01 00:00:00", "endDate": "...", "country": "DE", "range": "Low", "minAqi": 0, "maxAqi": 10}`.
    /// Timestamps may also be RFC 3339. Empty strings and nulls mean "not given" (the legacy web form sends them).
    /// A key given twice is refused naming it, as in [`from_params`](Query::from_params).
    pub fn from_json(body: &[u8]) -> Result<Query, QueryError> {
        let Body { map, repeated } =
            serde_json::from_slice(body).map_err(|e| match e.classify() {
                Category::Data => QueryError::new("body", "must be a JSON object"),
                _ => QueryError::new("body", format!("not valid JSON: {e}")),
            })?;
        if let Some(key) = repeated {
            return Err(QueryError::new(named(&key), "given more than once"));
        }
        Self::from_map(map, Form::Json)
    }

    /// Parses URL query parameters (`start`, `end`, `country`, `band`, `min_aqi`, `max_aqi`; the legacy names are
    /// accepted too). Errors name the parameters, not the body's fields.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Query, QueryError> {
        let mut map = Map::new();
        for (key, value) in params {
            if map
                .insert(key.to_string(), Value::String(value.to_string()))
                .is_some()
            {
                return Err(QueryError::new(named(key), "given more than once"));
            }
        }
        Self::from_map(map, Form::Params)
    }

    /// Parses the fields of either form; errors name fields as `form` names them, or as the client sent them.
    fn from_map(mut map: Map<String, Value>, form: Form) -> Result<Query, QueryError> {
        let known = |key: &str| FIELDS.iter().any(|n| n.json == key || n.param == key);
        if let Some(unknown) = map.keys().find(|k| !known(k)) {
            let what = match unknown.as_str() {
                "" => "a field without a name",
                _ => "unknown field",
            };
            let expected: Vec<&str> = FIELDS.iter().map(|n| n.of(form)).collect();
            return Err(QueryError::new(
                named(unknown),
                format!("{what}; expected {}", expected.join(", ")),
            ));
        }
        let (start_name, start) = take(&mut map, START, form)?;
        let (end_name, end) = take(&mut map, END, form)?;
        let (country_name, country) = take(&mut map, COUNTRY, form)?;
        let (band_name, band) = take(&mut map, BAND, form)?;
        let (min_name, min) = take(&mut map, MIN, form)?;
        let (max_name, max) = take(&mut map, MAX, form)?;

        let start = timestamp(start_name, start)?;
        let end = timestamp(end_name, end)?;
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
                Some(
                    text.parse::<Band>()
                        .map_err(|e| QueryError::new(band_name, e.to_string()))?,
                )
            }
        };
        let min_aqi = aqi(min_name, min)?.unwrap_or(MIN_AQI);
        let max_aqi = aqi(max_name, max)?.unwrap_or(MAX_AQI);
        if min_aqi > max_aqi {
            return Err(QueryError::new(
                max_name,
                format!("must not be below {min_name} ({min_aqi} > {max_aqi})"),
            ));
        }
        // Checked above field by field, so that errors name what the client sent; `validate` cannot fail here
        // but is the one constructor.
        QueryFields {
            start,
            end,
            country,
            band,
            min_aqi,
            max_aqi,
        }
        .validate()
    }

    /// Whether a reading answers this query. Backends filter natively; this is the reference they must agree with.
    pub fn matches(&self, reading: &Reading) -> bool {
        reading.timestamp >= self.start
            && reading.timestamp <= self.end
            && self
                .country
                .as_deref()
                .is_none_or(|c| reading.country.eq_ignore_ascii_case(c))
            && self.band.is_none_or(|b| reading.band == b)
            && reading.aqi >= self.min_aqi
            && reading.aqi <= self.max_aqi
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

fn aqi(field: &str, value: Option<Value>) -> Result<Option<u8>, QueryError> {
    let Some(value) = value else { return Ok(None) };
    let number = match &value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let out_of_range = || {
        QueryError::new(
            field,
            format!("must be a whole number from {MIN_AQI} to {MAX_AQI}, got {value}"),
        )
    };
    match number {
        Some(n) if n.fract() == 0.0 && (f64::from(MIN_AQI)..=f64::from(MAX_AQI)).contains(&n) => {
            Ok(Some(n as u8))
        }
        _ => Err(out_of_range()),
    }
}

#[cfg(test)]
mod tests;

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

/// Accepted names per field: the legacy body's first, then the URL parameter names.
const START: &[&str] = &["startDate", "start"];
const END: &[&str] = &["endDate", "end"];
const COUNTRY: &[&str] = &["country"];
const BAND: &[&str] = &["range", "band"];
const MIN: &[&str] = &["minAqi", "min_aqi"];
const MAX: &[&str] = &["maxAqi", "max_aqi"];

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
        Self::from_map(map)
    }

    /// Parses URL query parameters (`start`, `end`, `country`, `band`, `min_aqi`, `max_aqi`; the legacy names are
    /// accepted too).
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
        Self::from_map(map)
    }

    fn from_map(mut map: Map<String, Value>) -> Result<Query, QueryError> {
        let known: Vec<&str> = [START, END, COUNTRY, BAND, MIN, MAX].concat();
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let what = match unknown.as_str() {
                "" => "a field without a name",
                _ => "unknown field",
            };
            let field = named(unknown);
            return Err(QueryError::new(
                field,
                format!("{what}; expected startDate, endDate, country, range, minAqi, maxAqi"),
            ));
        }
        let (start_name, start) = take(&mut map, START)?;
        let (end_name, end) = take(&mut map, END)?;
        let (country_name, country) = take(&mut map, COUNTRY)?;
        let (band_name, band) = take(&mut map, BAND)?;
        let (min_name, min) = take(&mut map, MIN)?;
        let (max_name, max) = take(&mut map, MAX)?;

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
fn take(
    map: &mut Map<String, Value>,
    names: &[&'static str],
) -> Result<(&'static str, Option<Value>), QueryError> {
    let mut found: Option<(&'static str, Value)> = None;
    for name in names {
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
        None => (names[0], None),
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
mod tests {
    use super::*;

    fn err(body: &str) -> QueryError {
        Query::from_json(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn legacy_body_parses() {
        let q = Query::from_json(
            br#"{"startDate": "2019-04-16 14:00:00", "endDate": "2019-04-16T15:00:00Z", "country": "de", "range": "Medium", "minAqi": 0, "maxAqi": "10"}"#,
        )
        .expect("valid");
        assert_eq!(q.start, 1_555_423_200);
        assert_eq!(q.end, 1_555_426_800);
        assert_eq!(q.country.as_deref(), Some("DE"));
        assert_eq!(q.band, Some(Band::Moderate));
        assert_eq!((q.min_aqi, q.max_aqi), (0, 10));
    }

    #[test]
    fn optional_fields_default_and_empty_strings_are_absent() {
        let q = Query::from_json(
            br#"{"startDate": "2019-04-16", "endDate": "2019-04-17", "country": "", "range": null}"#,
        )
        .expect("valid");
        assert_eq!(q.country, None);
        assert_eq!(q.band, None);
        assert_eq!((q.min_aqi, q.max_aqi), (0, 10));
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(err(r#"{"endDate": "2019-04-16"}"#).field, "startDate");
        assert_eq!(err(r#"{"startDate": "2019-04-16"}"#).field, "endDate");
        assert_eq!(
            err(r#"{"startDate": "soon", "endDate": "2019-04-16"}"#).field,
            "startDate"
        );
        assert_eq!(
            err(r#"{"startDate": "2019-04-17", "endDate": "2019-04-16"}"#).field,
            "endDate"
        );
        let base = r#""startDate": "2019-04-16", "endDate": "2019-04-17""#;
        assert_eq!(
            err(&format!(r#"{{{base}, "country": "DEU"}}"#)).field,
            "country"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "country": 49}}"#)).field,
            "country"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "range": "Awful"}}"#)).field,
            "range"
        );
        assert_eq!(err(&format!(r#"{{{base}, "minAqi": 11}}"#)).field, "minAqi");
        assert_eq!(err(&format!(r#"{{{base}, "minAqi": -1}}"#)).field, "minAqi");
        assert_eq!(
            err(&format!(r#"{{{base}, "maxAqi": 2.5}}"#)).field,
            "maxAqi"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "minAqi": 5, "maxAqi": 4}}"#)).field,
            "maxAqi"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "contry": "DE"}}"#)).field,
            "contry"
        );
        assert_eq!(
            err(&format!(r#"{{{base}, "start": "2019-04-16"}}"#)).field,
            "start"
        );
        assert_eq!(err("[1]").field, "body");
        assert_eq!(err("{").field, "body");
    }

    #[test]
    fn a_key_given_twice_in_the_body_is_refused_naming_it() {
        let base = r#""startDate": "2019-04-16", "endDate": "2019-04-17""#;
        let twice = err(&format!(r#"{{{base}, "startDate": "2019-04-15"}}"#));
        assert_eq!(twice.field, "startDate");
        assert!(twice.message.contains("more than once"), "{twice}");
        // Written with an escape it is the same key; given twice it is refused even when both mean "absent".
        let escaped = err(&format!(r#"{{{base}, "end\u0044ate": "2019-04-18"}}"#));
        assert_eq!(escaped.field, "endDate");
        let absent = err(&format!(r#"{{{base}, "country": "", "country": null}}"#));
        assert_eq!(absent.field, "country");
        // A syntax error after a repeat is still reported as one.
        assert_eq!(
            err(&format!(r#"{{{base}, "startDate": "x",}}"#)).field,
            "body"
        );
    }

    #[test]
    fn url_params_parse() {
        let q = Query::from_params([
            ("start", "2019-04-16T14:00:00Z"),
            ("end", "2019-04-16T15:00:00Z"),
            ("band", "very_high"),
            ("min_aqi", "3"),
        ])
        .expect("valid");
        assert_eq!(q.band, Some(Band::VeryHigh));
        assert_eq!(q.min_aqi, 3);
        let e = Query::from_params([("start", "2019-04-16"), ("start", "2019-04-17")])
            .expect_err("dup");
        assert_eq!(e.field, "start");
    }

    #[test]
    fn deserializing_validates() {
        let ok = r#"{"start":5,"end":10,"country":"de","band":null,"min_aqi":0,"max_aqi":10}"#;
        let q: Query = serde_json::from_str(ok).expect("valid");
        assert_eq!(q.country.as_deref(), Some("DE"));
        for bad in [
            r#"{"start":10,"end":5,"country":null,"band":null,"min_aqi":0,"max_aqi":10}"#,
            r#"{"start":5,"end":10,"country":"DEU","band":null,"min_aqi":0,"max_aqi":10}"#,
            r#"{"start":5,"end":10,"country":null,"band":null,"min_aqi":0,"max_aqi":11}"#,
            r#"{"start":5,"end":10,"country":null,"band":null,"min_aqi":7,"max_aqi":6}"#,
            r#"{"start":5,"end":10,"country":null,"band":null,"min_aqi":0,"max_aqi":10,"x":1}"#,
        ] {
            assert!(serde_json::from_str::<Query>(bad).is_err(), "{bad}");
        }
        let round: Query =
            serde_json::from_str(&serde_json::to_string(&q).expect("ser")).expect("de");
        assert_eq!(round, q);
    }

    #[test]
    fn equal_bounds_are_a_valid_instant() {
        let q = Query::from_json(
            br#"{"startDate": "2019-04-16 14:22:52", "endDate": "2019-04-16 14:22:52"}"#,
        )
        .expect("valid");
        assert_eq!(q.start, q.end);
    }
}

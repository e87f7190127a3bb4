//! The query model: what a client may ask for, parsed from the legacy JSON body or URL parameters, validated.
//!
//! Semantics: `start <= timestamp <= end`, country equal (case-insensitive), band equal, `min_aqi <= aqi <=
//! max_aqi` (band and index on the chosen `index`, DAQI by default), and the key and place filters of
//! [`filters`]: reading id, sensor id, location id, sensor type (each one of a list), a box or a radius. Every
//! validation error names the field the client sent, so the gateway can answer a 400 that says exactly what to fix.

use serde::{Deserialize, Serialize};

use crate::index::{Band, IndexKind};
use crate::reading::Reading;
use crate::time::EpochSeconds;

pub mod filters;
mod parse;
pub use filters::Place;
pub use parse::{ParseOptions, Parsed};

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

impl Query {
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
        let mut text = Vec::new();
        // Serialising the plain filter struct cannot fail, and JSON is UTF-8.
        let _ = self.write_normal_form(&mut text);
        String::from_utf8(text).unwrap_or_default()
    }

    /// [`normal_form`](Self::normal_form), appended to `out` (the answer cache's key, made per request).
    pub fn write_normal_form(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &self.0)
    }
}

#[cfg(test)]
mod tests;

//! Readings to DynamoDB items and back. Numbers are written with Rust's shortest round-trip formatting, so a
//! value read back is exactly the value written; missing values are missing attributes, never `NULL`s: the
//! sparse indexes `by_location` and `by_id` are keyed by optional attributes, and DynamoDB rejects a write whose
//! index key attribute is present with another type than the key's (a `NULL` included), while an absent key
//! simply leaves the item out of the index.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{country_hour, sort_key, CH, ID, LOCATION, PK, SENSOR, SK};
use crate::index::Band;
use crate::reading::Reading;
use crate::store::StoreError;
use crate::time::hour_bucket;

pub(super) fn num(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn item(r: &Reading) -> HashMap<String, AttributeValue> {
    let hour = hour_bucket(r.timestamp);
    let mut item = HashMap::with_capacity(16);
    item.insert(
        CH.to_string(),
        AttributeValue::S(country_hour(&r.country, &hour)),
    );
    item.insert(PK.to_string(), AttributeValue::S(hour));
    item.insert(
        SK.to_string(),
        AttributeValue::S(sort_key(r.timestamp, r.sensor_id)),
    );
    item.insert(SENSOR.into(), num(r.sensor_id));
    item.insert("ts".into(), num(r.timestamp));
    item.insert(
        "sensor_type".into(),
        AttributeValue::S(r.sensor_type.clone()),
    );
    item.insert("country".into(), AttributeValue::S(r.country.clone()));
    item.insert("aqi".into(), num(r.aqi));
    item.insert(
        "band".into(),
        AttributeValue::S(r.band.as_str().to_string()),
    );
    let optional = [
        (ID, r.id.map(num)),
        (LOCATION, r.location_id.map(num)),
        ("latitude", r.latitude.map(num)),
        ("longitude", r.longitude.map(num)),
        ("altitude", r.altitude.map(num)),
        ("indoor", r.indoor.map(AttributeValue::Bool)),
        ("pm10", r.pm10.map(num)),
        ("pm25", r.pm25.map(num)),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            item.insert(name.to_string(), v);
        }
    }
    item
}

pub(super) fn reading(item: &HashMap<String, AttributeValue>) -> Result<Reading, StoreError> {
    fn n<T: std::str::FromStr>(
        item: &HashMap<String, AttributeValue>,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match item.get(key) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("{key} = {text:?} is not a number"))),
            Some(other) => Err(StoreError::Corrupt(format!(
                "{key} has the wrong type: {other:?}"
            ))),
        }
    }
    fn s(item: &HashMap<String, AttributeValue>, key: &str) -> Result<String, StoreError> {
        match item.get(key) {
            Some(AttributeValue::S(text)) => Ok(text.clone()),
            None => Ok(String::new()),
            Some(other) => Err(StoreError::Corrupt(format!(
                "{key} has the wrong type: {other:?}"
            ))),
        }
    }
    fn required<T>(v: Option<T>, key: &str) -> Result<T, StoreError> {
        v.ok_or_else(|| StoreError::Corrupt(format!("{key} is missing")))
    }
    let band = s(item, "band")?
        .parse::<Band>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Reading {
        id: n(item, ID)?,
        sensor_id: required(n(item, SENSOR)?, SENSOR)?,
        sensor_type: s(item, "sensor_type")?,
        location_id: n(item, LOCATION)?,
        latitude: n(item, "latitude")?,
        longitude: n(item, "longitude")?,
        altitude: n(item, "altitude")?,
        country: s(item, "country")?,
        indoor: match item.get("indoor") {
            Some(AttributeValue::Bool(b)) => Some(*b),
            _ => None,
        },
        timestamp: required(n(item, "ts")?, "ts")?,
        pm10: n(item, "pm10")?,
        pm25: n(item, "pm25")?,
        aqi: required(n(item, "aqi")?, "aqi")?,
        band,
    })
}

//! The feed's record shape, read loosely: every field optional, numbers as strings or numbers.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::reading::{optional_f64, pm_value, RecordFields, SkipReason};
use crate::time::parse_feed_timestamp;

/// A record as it appears in the feed. Unknown keys are ignored; every field is optional so that old and new
/// snapshots parse alike, and the rules decide what is missing.
#[derive(Deserialize)]
pub(super) struct RawRecord<'a> {
    #[serde(default)]
    id: Scalar<'a>,
    #[serde(default, borrow)]
    timestamp: Scalar<'a>,
    #[serde(default, borrow)]
    location: Option<RawLocation<'a>>,
    #[serde(default, borrow)]
    sensor: Option<RawSensor<'a>>,
    #[serde(default, borrow)]
    sensordatavalues: Option<Vec<RawValue<'a>>>,
}

#[derive(Deserialize, Default)]
struct RawLocation<'a> {
    #[serde(default)]
    id: Scalar<'a>,
    #[serde(default, borrow)]
    latitude: Scalar<'a>,
    #[serde(default, borrow)]
    longitude: Scalar<'a>,
    #[serde(default, borrow)]
    altitude: Scalar<'a>,
    #[serde(default, borrow)]
    country: Scalar<'a>,
    #[serde(default, borrow)]
    indoor: Scalar<'a>,
}

#[derive(Deserialize)]
struct RawSensor<'a> {
    #[serde(default)]
    id: Scalar<'a>,
    #[serde(default, borrow)]
    sensor_type: Option<RawSensorType<'a>>,
}

#[derive(Deserialize)]
struct RawSensorType<'a> {
    #[serde(default, borrow)]
    name: Scalar<'a>,
}

#[derive(Deserialize)]
struct RawValue<'a> {
    #[serde(default, borrow)]
    value: Scalar<'a>,
    #[serde(default, borrow)]
    value_type: Scalar<'a>,
}

impl<'a> RawRecord<'a> {
    pub(super) fn fields(&'a self) -> RecordFields<'a> {
        let location = self.location.as_ref();
        let sensor = self.sensor.as_ref();
        let mut fields = RecordFields {
            id: self.id.as_u64(),
            sensor_id: sensor.and_then(|s| s.id.as_u64()),
            sensor_type: sensor
                .and_then(|s| s.sensor_type.as_ref())
                .and_then(|t| t.name.as_str())
                .unwrap_or(""),
            location_id: location.and_then(|l| l.id.as_u64()),
            latitude: location.and_then(|l| l.latitude.as_f64()),
            longitude: location.and_then(|l| l.longitude.as_f64()),
            altitude: location.and_then(|l| l.altitude.as_f64()),
            country: location.and_then(|l| l.country.as_str()).unwrap_or(""),
            indoor: location.and_then(|l| l.indoor.as_bool()),
            timestamp: self.timestamp.as_str().and_then(parse_feed_timestamp),
            pm10: None,
            pm25: None,
        };
        for value in self.sensordatavalues.iter().flatten() {
            let slot = match value.value_type.as_str() {
                Some("P1") => &mut fields.pm10,
                Some("P2") => &mut fields.pm25,
                _ => continue,
            };
            let is_pm10 = value.value_type.as_str() == Some("P1");
            *slot = Some(value.value.pm(is_pm10));
        }
        fields
    }
}

/// A JSON scalar read loosely: the feed writes numbers as strings, but older snapshots and other tools write
/// them as numbers, and either may be null or absent.
#[derive(Debug, Default)]
enum Scalar<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// An object or array where a scalar was expected.
    Other,
}

impl Scalar<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::UInt(v) => Some(*v),
            Scalar::Int(v) => u64::try_from(*v).ok(),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Str(s) => optional_f64(s),
            Scalar::Float(v) if v.is_finite() => Some(*v),
            Scalar::Int(v) => Some(*v as f64),
            Scalar::UInt(v) => Some(*v as f64),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(*b),
            Scalar::Int(v) => Some(*v != 0),
            Scalar::UInt(v) => Some(*v != 0),
            Scalar::Str(s) => match s.trim() {
                "1" | "true" => Some(true),
                "0" | "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    fn pm(&self, is_pm10: bool) -> Result<f64, SkipReason> {
        match self {
            Scalar::Str(s) => pm_value(s, is_pm10),
            Scalar::Float(v) => crate::reading::check_pm(*v, is_pm10),
            Scalar::Int(v) => crate::reading::check_pm(*v as f64, is_pm10),
            Scalar::UInt(v) => crate::reading::check_pm(*v as f64, is_pm10),
            _ => Err(SkipReason::InvalidNumber),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON scalar")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::UInt(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Missing)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Missing)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

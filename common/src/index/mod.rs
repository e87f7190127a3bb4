//! Air-quality indices: the UK DAQI (stored with every reading, the default), the US EPA AQI and the European
//! Air Quality Index, each table-driven in its own module with its source cited there.
//!
//! A reading's stored `aqi`/`band` are the DAQI's (what the legacy system answered). The other indices are
//! computed from the stored PM values when an answer asks for them (`index=us-epa`, `index=eaqi`): a lookup in a
//! table of a few rows costs less than reading the row, so storing three indices per reading would buy nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod daqi;
pub mod eaqi;
pub mod us_epa;

pub use daqi::{daqi, pollutant_index, Band, Pollutant, UnknownBand};

/// Which index an answer's `aqi` and `band` columns (and the `band`/`min_aqi`/`max_aqi` filters) use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndexKind {
    /// UK Daily Air Quality Index, 1..=10, four bands.
    #[default]
    Daqi,
    /// US EPA AQI (PM2.5 breakpoints revised 2024), 0..=500, six categories.
    UsEpa,
    /// European Air Quality Index (EEA, 2024 revision), levels 1..=6.
    Eaqi,
}

/// A reading's value and category on one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    /// The index value (DAQI 1..=10, US AQI 0..=500, EAQI 1..=6).
    pub value: u16,
    /// The category, 0-based from the best (`IndexKind::categories()[level]`).
    pub level: u8,
}

const DAQI_BANDS: [&str; 4] = ["Low", "Moderate", "High", "Very High"];

impl IndexKind {
    pub const ALL: [IndexKind; 3] = [IndexKind::Daqi, IndexKind::UsEpa, IndexKind::Eaqi];

    /// The name a client writes (`index=us-epa`).
    pub fn as_str(self) -> &'static str {
        match self {
            IndexKind::Daqi => "daqi",
            IndexKind::UsEpa => "us-epa",
            IndexKind::Eaqi => "eaqi",
        }
    }

    pub fn is_default(&self) -> bool {
        *self == IndexKind::Daqi
    }

    /// The smallest and largest value a query may name in `min_aqi`/`max_aqi`. DAQI allows 0 because legacy
    /// clients send `"minAqi": 0`.
    pub fn bounds(self) -> (u16, u16) {
        match self {
            IndexKind::Daqi => (0, 10),
            IndexKind::UsEpa => (0, 500),
            IndexKind::Eaqi => (1, 6),
        }
    }

    /// Category names, best first, as written in answers.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            IndexKind::Daqi => &DAQI_BANDS,
            IndexKind::UsEpa => &us_epa::CATEGORIES,
            IndexKind::Eaqi => &eaqi::LEVELS,
        }
    }

    /// The category name of a level (the worst one for a level past the end).
    pub fn category(self, level: u8) -> &'static str {
        let names = self.categories();
        names[usize::from(level).min(names.len() - 1)]
    }

    /// Parses a category name of this index, ignoring case and treating `_`, `-` and spaces alike (so the
    /// legacy `Very_High` and `Medium` are DAQI's Very High and Moderate).
    pub fn parse_category(self, text: &str) -> Option<u8> {
        if self == IndexKind::Daqi {
            return text.parse::<Band>().ok().map(|b| b as u8);
        }
        let wanted = squash(text);
        self.categories()
            .iter()
            .position(|name| squash(name) == wanted)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// The reading's value and category from its PM values; `None` when it has neither.
    pub fn assess(self, pm25: Option<f64>, pm10: Option<f64>) -> Option<Assessment> {
        match self {
            IndexKind::Daqi => daqi(pm25, pm10).map(|value| Assessment {
                value: value.into(),
                level: Band::of_index(value) as u8,
            }),
            IndexKind::UsEpa => us_epa::aqi(pm25, pm10).map(|value| Assessment {
                value,
                level: us_epa::category(value),
            }),
            IndexKind::Eaqi => eaqi::level(pm25, pm10).map(|level| Assessment {
                value: u16::from(level) + 1,
                level,
            }),
        }
    }
}

/// Lower case without spaces, `_` or `-`: how category names are compared.
fn squash(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An index name that is none of `daqi`, `us-epa`, `eaqi`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown index {0:?}; expected one of daqi, us-epa, eaqi")]
pub struct UnknownIndex(pub String);

impl FromStr for IndexKind {
    type Err = UnknownIndex;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match squash(s).as_str() {
            "daqi" | "uk" | "ukdaqi" => Ok(IndexKind::Daqi),
            "usepa" | "epa" | "usaqi" => Ok(IndexKind::UsEpa),
            "eaqi" | "eu" | "eea" => Ok(IndexKind::Eaqi),
            _ => Err(UnknownIndex(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_categories_parse() {
        for kind in IndexKind::ALL {
            assert_eq!(kind.as_str().parse::<IndexKind>(), Ok(kind));
            for (level, name) in kind.categories().iter().enumerate() {
                assert_eq!(
                    kind.parse_category(name),
                    Some(level as u8),
                    "{kind} {name}"
                );
                assert_eq!(kind.category(level as u8), *name);
            }
            assert_eq!(kind.parse_category("no such band"), None);
        }
        assert_eq!(IndexKind::Daqi.parse_category("Very_High"), Some(3));
        assert_eq!(IndexKind::Daqi.parse_category("Medium"), Some(1));
        assert_eq!(
            IndexKind::UsEpa.parse_category("unhealthy_for_sensitive_groups"),
            Some(2)
        );
        assert_eq!(IndexKind::Eaqi.parse_category("very-poor"), Some(4));
        assert!("aqi".parse::<IndexKind>().is_err());
    }

    #[test]
    fn the_daqi_assessment_is_the_stored_one() {
        for tenth in 0..2000 {
            let v = f64::from(tenth) / 10.0;
            let a = IndexKind::Daqi.assess(Some(v), None).expect("value");
            assert_eq!(a.value, u16::from(daqi(Some(v), None).expect("value")));
            assert_eq!(a.level, Band::of_index(a.value as u8) as u8);
        }
        assert_eq!(IndexKind::UsEpa.assess(None, None), None);
    }
}

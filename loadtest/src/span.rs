//! The generated queries' time span. `--span START,END` when given; otherwise the target's own data, read from
//! `GET /api/status` (`data.oldest`, `data.newest`), so that a run with no options asks for readings the target
//! has instead of a fixed day it may not hold (every answer would then be an empty CSV, and the run would measure
//! nothing but the empty path). When the status cannot be read, or the store is empty, the run falls back to
//! [`DEFAULT_SPAN`] and says so.

use std::time::Duration;

use airq_common::time::{format_rfc3339, parse_query_timestamp, EpochSeconds};
use reqwest::header::{HeaderMap, AUTHORIZATION};

use crate::client::ApiKey;

/// The span used when neither `--span` nor the target's status gives one: the day of the bundled sample feed,
/// which `airq-gateway --standalone` ingests on its first run.
pub const DEFAULT_SPAN: (EpochSeconds, EpochSeconds) = (1_555_372_800, 1_555_459_200);

/// How long reading the status may take: it is one small JSON answer, and the run has not started yet.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the target's data span could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("GET {url} failed: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url} is not airq's status JSON: {reason}")]
    Malformed { url: String, reason: String },
    #[error("the target's store is empty (data.oldest and data.newest are null)")]
    Empty,
}

/// Parses `--span START,END` (RFC 3339 or `YYYY-MM-DD HH:MM:SS`).
pub fn parse(text: &str) -> Result<(EpochSeconds, EpochSeconds), String> {
    let (first, last) = text
        .split_once(',')
        .ok_or_else(|| "--span must be START,END".to_string())?;
    let parse = |t: &str| {
        parse_query_timestamp(t.trim()).ok_or_else(|| format!("--span: {t:?} is not a timestamp"))
    };
    let span = (parse(first)?, parse(last)?);
    if span.0 > span.1 {
        return Err(format!("--span: {first} is after {last}"));
    }
    Ok(span)
}

/// The span as `--span` takes it.
pub fn format(span: (EpochSeconds, EpochSeconds)) -> String {
    format!("{},{}", format_rfc3339(span.0), format_rfc3339(span.1))
}

/// The oldest and newest reading's times of the gateway at `base`, from `GET <base>/api/status`, sending the
/// API key if there is one (a gateway with keys wants one on every `/api/` request).
pub async fn of_target(
    base: &str,
    api_key: Option<&ApiKey>,
) -> Result<(EpochSeconds, EpochSeconds), StatusError> {
    let url = format!("{}/api/status", base.trim_end_matches('/'));
    let mut headers = HeaderMap::new();
    if let Some(key) = api_key {
        headers.insert(AUTHORIZATION, key.authorization());
    }
    let request = |source| StatusError::Request {
        url: url.clone(),
        source,
    };
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(STATUS_TIMEOUT)
        .build()
        .map_err(request)?;
    let response = http.get(&url).send().await.map_err(request)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(StatusError::Status { url, status });
    }
    let body: serde_json::Value = response.json().await.map_err(request)?;
    from_status(&body).map_err(|e| match e {
        StatusError::Malformed { reason, .. } => StatusError::Malformed { url, reason },
        other => other,
    })
}

/// The span in a status document: `data.oldest` and `data.newest`, RFC 3339 strings or both null.
fn from_status(body: &serde_json::Value) -> Result<(EpochSeconds, EpochSeconds), StatusError> {
    let malformed = |reason: String| StatusError::Malformed {
        url: String::new(),
        reason,
    };
    let data = body
        .get("data")
        .ok_or_else(|| malformed("no \"data\" object".into()))?;
    let time = |name: &str| -> Result<Option<EpochSeconds>, StatusError> {
        match data.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(text)) => parse_query_timestamp(text)
                .map(Some)
                .ok_or_else(|| malformed(format!("data.{name} {text:?} is not a timestamp"))),
            // `data` is an error object when the store did not answer in time.
            Some(other) => Err(malformed(format!("data.{name} is {other}"))),
        }
    };
    if let Some(error) = data.get("error") {
        return Err(malformed(format!("the store did not answer: {error}")));
    }
    match (time("oldest")?, time("newest")?) {
        (Some(oldest), Some(newest)) if oldest <= newest => Ok((oldest, newest)),
        (Some(oldest), Some(newest)) => Err(malformed(format!(
            "data.oldest ({oldest}) is after data.newest ({newest})"
        ))),
        _ => Err(StatusError::Empty),
    }
}

/// Where a run's span came from, to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--span`.
    Given,
    /// The target's data.
    Target,
    /// [`DEFAULT_SPAN`], because the target's could not be had (the reason).
    Default(String),
}

/// The span of a run: `--span` if given, else the target's data, else [`DEFAULT_SPAN`].
pub async fn resolve(
    given: Option<&str>,
    base: &str,
    api_key: Option<&ApiKey>,
) -> Result<((EpochSeconds, EpochSeconds), Origin), String> {
    if let Some(text) = given {
        return Ok((parse(text)?, Origin::Given));
    }
    Ok(match of_target(base, api_key).await {
        Ok(span) => (span, Origin::Target),
        Err(e) => (DEFAULT_SPAN, Origin::Default(format!("{e:#}"))),
    })
}

/// The line that tells the user which span a run without `--span` uses, if there is one to say.
pub fn note(span: (EpochSeconds, EpochSeconds), origin: &Origin) -> Option<String> {
    match origin {
        Origin::Given => None,
        Origin::Target => Some(format!(
            "query span: {} (the target's data, from /api/status; --span to choose)",
            format(span)
        )),
        Origin::Default(why) => Some(format!(
            "note: no --span, and the target's data span is unknown ({why}); using {}",
            format(span)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_is_the_sample_day() {
        assert_eq!(
            format(DEFAULT_SPAN),
            "2019-04-16T00:00:00Z,2019-04-17T00:00:00Z"
        );
        assert_eq!(
            parse("2019-04-16T00:00:00Z,2019-04-17T00:00:00Z"),
            Ok(DEFAULT_SPAN)
        );
        assert!(parse("2019-04-16").is_err());
        assert!(parse("2019-04-17,2019-04-16").is_err());
        assert!(parse("soon,2019-04-16").is_err());
    }

    #[test]
    fn the_status_gives_the_span_or_says_why_not() {
        let status =
            json!({"data": {"oldest": "2019-04-16T14:00:00Z", "newest": "2019-04-16T14:30:00Z"}});
        assert_eq!(
            from_status(&status).expect("span"),
            (1_555_423_200, 1_555_425_000)
        );
        let empty = json!({"data": {"readings": 0, "oldest": null, "newest": null}});
        assert!(matches!(from_status(&empty), Err(StatusError::Empty)));
        for bad in [
            json!({"service": "airq"}),
            json!({"data": {"error": "timed out"}}),
            json!({"data": {"oldest": 5, "newest": 6}}),
            json!({"data": {"oldest": "2019-04-17T00:00:00Z", "newest": "2019-04-16T00:00:00Z"}}),
        ] {
            assert!(
                matches!(from_status(&bad), Err(StatusError::Malformed { .. })),
                "{bad}"
            );
        }
    }
}

//! What a browser needs around a CSV answer, kept out of the handlers: the `download` parameter (an answer
//! saved as a file with a meaningful name, `Content-Disposition: attachment; filename="airq-DE-2019-04-16T14-15.csv"`)
//! and the `X-Airq-Answered` header (`direct` or `queued`), which tells the web console which path answered.
//!
//! `download` is taken out of the parameters before the query is validated (it is not a query field). Its value
//! is a file name when it ends in `.csv` (reduced to safe characters); any other value, or none, asks for the
//! default name: from the query on `/api/query`, from the job id on `/results/<id>` (the result store does not
//! keep the query, so a client that wants the query's name passes it).

use airq_common::answer::Format;
use airq_common::time::format_rfc3339;
use airq_common::Query;
use axum::http::header::{HeaderName, CONTENT_DISPOSITION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use uuid::Uuid;

/// Says which path answered: `direct` (streamed at once) or `queued` (a worker's stored answer).
pub const ANSWERED: HeaderName = HeaderName::from_static("x-airq-answered");

/// The parameter that asks for `Content-Disposition: attachment`.
pub const PARAM: &str = "download";

/// Longest file name sent, in bytes (all ASCII).
const MAX_NAME: usize = 100;

/// Which path answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    Direct,
    Queued,
}

/// Marks a response with the path that answered it.
pub fn answered(mut response: Response, how: Answered) -> Response {
    let value = match how {
        Answered::Direct => "direct",
        Answered::Queued => "queued",
    };
    response
        .headers_mut()
        .insert(ANSWERED, HeaderValue::from_static(value));
    response
}

/// Removes every `download` parameter; `Some(value)` (the last one's) when there was one.
pub fn take(params: &mut Vec<(String, String)>) -> Option<String> {
    let mut found = None;
    params.retain(|(key, value)| {
        if key == PARAM {
            found = Some(value.clone());
            false
        } else {
            true
        }
    });
    found
}

/// `airq-<country or all>-<start as YYYY-MM-DDTHH-MM>.csv`, unless the client named the file.
pub fn query_file_name(query: &Query, asked: &str, format: Format) -> String {
    let ext = format.extension();
    if let Some(name) = asked_name(asked, ext) {
        return name;
    }
    let start: String = format_rfc3339(query.start).chars().take(16).collect();
    let country = query.country.as_deref().unwrap_or("all");
    safe(&format!("airq-{country}-{start}.{ext}"), ext)
}

/// `airq-<id>.<ext>`, unless the client named the file.
pub fn result_file_name(id: Uuid, asked: &str, format: Format) -> String {
    let ext = format.extension();
    asked_name(asked, ext).unwrap_or_else(|| format!("airq-{id}.{ext}"))
}

/// A name the client gave: a value ending in `.<ext>` (the answer's format's) with at least one safe
/// character before it.
fn asked_name(asked: &str, ext: &str) -> Option<String> {
    let asked = asked.trim();
    let dot_ext = format!(".{ext}");
    if !asked.to_ascii_lowercase().ends_with(&dot_ext) {
        return None;
    }
    let name = safe(asked, ext);
    (name.len() > dot_ext.len() && !name.starts_with('.')).then_some(name)
}

/// Letters, digits, `-`, `_` and `.` only (`:` becomes `-`, anything else is dropped), at most [`MAX_NAME`]
/// bytes keeping the `.csv` end: nothing that needs quoting in a header or means anything to a file system.
fn safe(name: &str, ext: &str) -> String {
    let mut out: String = name
        .chars()
        .filter_map(|c| match c {
            ':' => Some('-'),
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => Some(c),
            _ => None,
        })
        .collect();
    while out.contains("..") {
        out = out.replace("..", ".");
    }
    if out.len() > MAX_NAME {
        let stem_len = MAX_NAME - ext.len() - 1;
        out = format!("{}.{ext}", &out[..stem_len]);
    }
    out
}

/// Adds `Content-Disposition: attachment` to a successful answer; errors stay as they are (JSON to read, not a
/// file to save).
pub fn attach(mut response: Response, name: Option<&str>) -> Response {
    let Some(name) = name else { return response };
    if response.status() != StatusCode::OK {
        return response;
    }
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(params: &[(&str, &str)]) -> Query {
        Query::from_params(params.iter().copied()).expect("valid query")
    }

    #[test]
    fn the_default_name_says_country_and_start() {
        let q = query(&[
            ("start", "2019-04-16T14:15:59Z"),
            ("end", "2019-04-16T15:00:00Z"),
            ("country", "de"),
        ]);
        assert_eq!(
            query_file_name(&q, "", Format::Csv),
            "airq-DE-2019-04-16T14-15.csv"
        );
        assert_eq!(
            query_file_name(&q, "1", Format::Csv),
            "airq-DE-2019-04-16T14-15.csv"
        );
        let all = query(&[("start", "2019-04-16"), ("end", "2019-04-17")]);
        assert_eq!(
            query_file_name(&all, "yes", Format::Csv),
            "airq-all-2019-04-16T00-00.csv"
        );
    }

    #[test]
    fn asked_names_keep_safe_characters_only() {
        let id = Uuid::nil();
        assert_eq!(
            result_file_name(id, "airq-DE-2019-04-16T14-15.csv", Format::Csv),
            "airq-DE-2019-04-16T14-15.csv"
        );
        // No path, quote, separator or line break survives; a name left starting with a dot is not used.
        assert_eq!(
            result_file_name(id, "a/../x\"; y=\r\n.csv", Format::Csv),
            "a.xy.csv"
        );
        assert_eq!(
            result_file_name(id, "../x.csv", Format::Csv),
            format!("airq-{id}.csv")
        );
        assert_eq!(
            result_file_name(id, "\"\".csv", Format::Csv),
            format!("airq-{id}.csv")
        );
        assert_eq!(result_file_name(id, "a:b.CSV", Format::Csv), "a-b.CSV");
        assert_eq!(
            result_file_name(id, "1", Format::Csv),
            format!("airq-{id}.csv")
        );
        let long = format!("{}.csv", "a".repeat(500));
        let name = result_file_name(id, &long, Format::Csv);
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.ends_with(".csv"));
    }

    #[test]
    fn take_removes_every_download_parameter() {
        let mut params = vec![
            ("start".to_string(), "2019-04-16".to_string()),
            ("download".to_string(), "1".to_string()),
            ("download".to_string(), "x.csv".to_string()),
        ];
        assert_eq!(take(&mut params), Some("x.csv".to_string()));
        assert_eq!(
            params,
            vec![("start".to_string(), "2019-04-16".to_string())]
        );
        assert_eq!(take(&mut params), None);
    }
}

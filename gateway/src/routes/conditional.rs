//! Conditional requests and caching headers for direct answers (issue 13): a strong `ETag` from the question
//! and the store's data version (the same question at the same version is the same bytes), `If-None-Match` →
//! `304 Not Modified` without reading a row, and a short `Cache-Control` for a feed refreshed every five minutes.

use airq_common::answer::cache::AnswerKey;
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use airq_common::metrics::NOT_MODIFIED;

/// The `Cache-Control` of a gateway's answers (made once, at start): `private` when answers are per key (API
/// keys on), so a shared proxy does not hand one client's answer to another; `public` otherwise.
pub fn cache_control(private: bool, max_age_secs: u64) -> HeaderValue {
    let scope = if private { "private" } else { "public" };
    HeaderValue::from_str(&format!("{scope}, max-age={max_age_secs}"))
        .unwrap_or(HeaderValue::from_static("no-cache"))
}

/// The validators of one answer.
pub struct Validators {
    etag: HeaderValue,
    cache_control: HeaderValue,
}

impl Validators {
    /// The validators of the answer at `key`, with the gateway's [`cache_control`].
    pub fn new(key: &AnswerKey, cache_control: &HeaderValue) -> Validators {
        Validators {
            etag: HeaderValue::from_str(&key.etag()).unwrap_or(HeaderValue::from_static("\"\"")),
            cache_control: cache_control.clone(),
        }
    }

    /// Whether the request's `If-None-Match` names this answer (RFC 9110 §13.1.2: a list of tags or `*`; weak
    /// comparison, so `W/"x"` matches `"x"`).
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let ours = self.etag.as_bytes();
        headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == ours)
    }

    /// `304` with the validators, no body.
    pub fn not_modified(&self) -> Response {
        metrics::counter!(NOT_MODIFIED).increment(1);
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        self.apply_headers(response.headers_mut());
        response
    }

    /// Adds the validators to a `200` answer (any other status is left alone: an error has no entity tag).
    pub fn apply(&self, mut response: Response) -> Response {
        if response.status() == StatusCode::OK {
            self.apply_headers(response.headers_mut());
        }
        response
    }

    fn apply_headers(&self, headers: &mut HeaderMap) {
        headers.insert(ETAG, self.etag.clone());
        headers.insert(CACHE_CONTROL, self.cache_control.clone());
        // The format may come from `Accept`.
        headers.insert(VARY, HeaderValue::from_static("accept"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airq_common::answer::Ask;
    use airq_common::Query;

    fn validators(version: u64) -> Validators {
        let q = Query::window(0, 10).expect("valid");
        Validators::new(
            &AnswerKey::new(&q, Ask::default(), version),
            &cache_control(false, 60),
        )
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let v = validators(7);
        let tag = v.etag.to_str().expect("ascii").to_string();
        for header in [
            tag.clone(),
            format!("\"x\", {tag}"),
            format!("W/{tag}"),
            "*".into(),
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                IF_NONE_MATCH,
                HeaderValue::from_str(&header).expect("header"),
            );
            assert!(v.matches(&h), "{header}");
        }
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!v.matches(&h));
        assert!(!v.matches(&HeaderMap::new()));
        // Another data version is another tag.
        assert_ne!(validators(8).etag, v.etag);
    }
}

//! CORS (`--cors-origin ORIGIN`, repeatable; none by default): lets a page served from another origin call the
//! API from a browser, through tower-http's `CorsLayer`.
//!
//! Allowed: `GET`, `POST`, `DELETE` with the `Authorization`, `Content-Type` and `Prefer` headers; exposed to the
//! page: `Location`, `Retry-After`, `Content-Disposition` and `X-Airq-Answered`. A request from an origin not in
//! the list (or with no `Origin`) never reaches the CORS layer, so it gets no `Access-Control-*` header at all
//! (tower-http alone would still send the allowed methods and headers to anyone's preflight), and its `OPTIONS`
//! is the usual JSON 405. Every response then says `Vary: Origin`, so a cache never serves one origin's answer to
//! another.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION, ORIGIN, RETRY_AFTER, VARY,
};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::download::ANSWERED;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// An origin as browsers send it: `scheme://host[:port]`, no path, lower case. `*` is refused: name the pages
/// that may call the API.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let origin = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{text:?} is not an origin such as https://dash.example.org"))?;
    let host_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok {
        return Err(format!(
            "{text:?} is not an origin (scheme://host[:port], no path) such as https://dash.example.org"
        ));
    }
    HeaderValue::from_str(&origin).map_err(|e| format!("{text:?}: {e}"))
}

#[derive(Clone)]
struct Cors {
    origins: Arc<[HeaderValue]>,
    layer: CorsLayer,
}

/// Wraps `router` so that the `origins` may call it from a browser; `router` unchanged when there are none.
pub fn allow(router: Router, origins: &[HeaderValue]) -> Router {
    if origins.is_empty() {
        return router;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("prefer"),
        ])
        .expose_headers([LOCATION, RETRY_AFTER, CONTENT_DISPOSITION, ANSWERED])
        .max_age(PREFLIGHT_MAX_AGE);
    let cors = Cors {
        origins: origins.into(),
        layer,
    };
    router.layer(axum::middleware::from_fn_with_state(cors, only_allowed))
}

async fn only_allowed(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let allowed = request
        .headers()
        .get(ORIGIN)
        .is_some_and(|origin| cors.origins.contains(origin));
    if allowed {
        // The CORS layer answers a preflight itself and adds its headers to everything else.
        return match cors.layer.layer(next).oneshot(request).await {
            Ok(response) => response,
            // `Next` cannot fail (its error type is `Infallible`).
            Err(never) => match never {},
        };
    }
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_to_what_browsers_send() {
        assert_eq!(
            parse_origin("https://Dash.Example.org/").expect("valid"),
            "https://dash.example.org"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:3000").expect("valid"),
            "http://127.0.0.1:3000"
        );
        for bad in [
            "*",
            "dash.example.org",
            "ftp://x",
            "https://",
            "https://x/path",
            "https://x y",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}

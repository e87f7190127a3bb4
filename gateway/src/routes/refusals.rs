//! Refusals made by the router and the layers around the handlers, in the API's one error shape
//! (`{"error", "field"?}`, see [`ApiError`]): the 404 and 405 fallbacks, and [`json_errors`], the net under
//! every other error response.

use axum::body::HttpBody;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// No route has this path.
pub async fn not_found() -> ApiError {
    ApiError::NoRoute
}

/// The path has a route, but not for this method. axum adds the `Allow` header to what this returns.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method)
}

/// A handler panicked (caught by [`super::front`]): the client gets the API's generic 500; the panic itself
/// was logged by the panic hook (one line), so nothing of it is repeated here or shown to the client.
pub fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("a handler panicked".into()).into_response()
}

/// Rewrites a 4xx/5xx whose body is empty or not JSON into the API's shape, `{"error": <canonical reason>}`,
/// keeping its status and its other headers (`Allow`, `Retry-After`, ...).
///
/// Handlers answer through [`ApiError`] and pass untouched. This is the net for refusals made by code that does
/// not: axum's built-in rejections and fallbacks, tower-http layers, a future route that returns a bare
/// `StatusCode`. Without it such a refusal reaches the client as an empty or `text/plain` body, which clients
/// of this API cannot parse. A rewrite means some path bypassed `ApiError`, so it is logged.
pub fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || (is_json(response.headers()) && response.body().size_hint().exact() != Some(0))
    {
        return response;
    }
    tracing::debug!(
        status = status.as_u16(),
        "error response without a JSON body; rewritten"
    );
    let (mut parts, _body) = response.into_parts();
    let (json, body) = ApiError::Refused(status).into_response().into_parts();
    for name in [header::CONTENT_LENGTH, header::CONTENT_ENCODING] {
        parts.headers.remove(name);
    }
    if let Some(content_type) = json.headers.get(header::CONTENT_TYPE) {
        parts
            .headers
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    Response::from_parts(parts, body)
}

/// `application/json` or a `+json` type such as `application/problem+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::{Json, Router};
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use super::*;

    /// Routes that refuse the way code outside `ApiError` does, behind the net.
    fn app() -> Router {
        Router::new()
            .route("/bare", get(|| async { StatusCode::IM_A_TEAPOT }))
            .route(
                "/text",
                get(|| async {
                    (
                        StatusCode::BAD_GATEWAY,
                        [(header::RETRY_AFTER, "5")],
                        "upstream is down",
                    )
                }),
            )
            .route(
                "/empty-json",
                get(|| async {
                    (
                        StatusCode::CONFLICT,
                        [(header::CONTENT_TYPE, "application/json")],
                        "",
                    )
                }),
            )
            .route(
                "/json",
                get(|| async { (StatusCode::CONFLICT, Json(json!({"error": "taken"}))) }),
            )
            .route("/ok", get(|| async { "fine" }))
            .layer(axum::middleware::map_response(
                |response: Response| async move { json_errors(response) },
            ))
    }

    async fn call(path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = app().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, 1 << 20).await.expect("body");
        (parts.status, parts.headers, body.to_vec())
    }

    #[tokio::test]
    async fn bodiless_and_plain_errors_become_json_keeping_status_and_headers() {
        for (path, status) in [
            ("/bare", StatusCode::IM_A_TEAPOT),
            ("/text", StatusCode::BAD_GATEWAY),
            ("/empty-json", StatusCode::CONFLICT),
        ] {
            let (got, headers, body) = call(path).await;
            assert_eq!(got, status, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{path}");
            let body: Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(
                body,
                json!({ "error": status.canonical_reason().expect("reason") }),
                "{path}"
            );
        }
        assert_eq!(call("/text").await.1[header::RETRY_AFTER], "5");
    }

    #[tokio::test]
    async fn json_errors_and_successes_pass_untouched() {
        let (status, _, body) = call("/json").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body, br#"{"error":"taken"}"#);
        let (status, headers, body) = call("/ok").await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain"));
        assert_eq!(body, b"fine");
    }
}

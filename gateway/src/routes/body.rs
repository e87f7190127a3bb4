//! A total deadline on request bodies.
//!
//! tower-http's body timeout restarts on every frame, so a client sending one byte every few seconds is never
//! cut off. Bodies here are small (the query body is under 1 KiB, capped at `--max-body`), so the whole body
//! is read up front, within one deadline and the size cap, before any handler runs.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::RequestLimits;
use crate::error::ApiError;

/// The request with its whole body read (at most `max_body` bytes, within `body_timeout`), or the refusal.
pub async fn read_whole(limits: RequestLimits, request: Request) -> Result<Request, Response> {
    if request.body().is_end_stream() {
        // No body (most GETs): nothing to wait for.
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limits.body_timeout, whole(body, limits.max_body)).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Ok(Err(refused)) => Err(refused.into_response()),
        Err(_) => Err(timed_out(limits.body_timeout)),
    }
}

/// The bytes of `body`, at most `max_body` of them. Once [`read_whole`] has read a request's body this takes
/// its one buffer out without waiting.
pub async fn whole(body: Body, max_body: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, max_body).await.map_err(|e| {
        if is_length_limit(&e) {
            ApiError::TooLarge { limit: max_body }
        } else {
            ApiError::BadRequest {
                field: Some("body".into()),
                message: format!("the request body could not be read: {e}"),
            }
        }
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

fn timed_out(deadline: Duration) -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [(axum::http::header::CONNECTION, "close")],
        Json(json!({
            "error": format!("the request body did not arrive within {}s", deadline.as_secs_f64()),
            "field": "body",
        })),
    )
        .into_response()
}

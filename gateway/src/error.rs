//! The gateway's one error type: every failure a client can see, as a status and a JSON body.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use airq_common::protocol::FailReason;
use airq_common::results::{Failure, GoneReason};

fn gone_message(reason: GoneReason) -> &'static str {
    match reason {
        GoneReason::Expired => "this result has expired; submit the query again",
        GoneReason::Evicted => {
            "this result was evicted to make room for newer ones; submit the query again"
        }
        GoneReason::Cancelled => "this job was cancelled",
    }
}

/// The one mapping from why a job failed to the status its client sees.
pub fn status_of(reason: FailReason) -> StatusCode {
    match reason {
        FailReason::InvalidQuery => StatusCode::BAD_REQUEST,
        FailReason::TooLarge => StatusCode::INSUFFICIENT_STORAGE,
        FailReason::Timeout => StatusCode::GATEWAY_TIMEOUT,
        FailReason::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `{"error": ..., "field": ...}` with a fitting status. A 5xx shows a generic message and logs the cause.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("no job with this id")]
    NotFound,
    #[error("no such route; see POST/GET /api/query and GET/DELETE /results/<id>")]
    NoRoute,
    #[error("method {0} is not allowed on this route; the Allow header lists the ones that are")]
    MethodNotAllowed(Method),
    /// A refusal made outside this type (an axum or tower-http built-in), known only by its status; its message
    /// is the status's canonical reason. See `routes::refusals::json_errors`.
    #[error("{}", .0.canonical_reason().unwrap_or("error"))]
    Refused(StatusCode),
    #[error("{}", gone_message(*.0))]
    Gone(GoneReason),
    #[error("{}", .0.message)]
    JobFailed(Failure),
    #[error("the service is not available: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<airq_common::QueryError> for ApiError {
    fn from(e: airq_common::QueryError) -> Self {
        ApiError::BadRequest {
            field: Some(e.field),
            message: e.message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field, message) = match &self {
            ApiError::BadRequest { field, message } => {
                (StatusCode::BAD_REQUEST, field.clone(), message.clone())
            }
            ApiError::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Some("body".into()),
                self.to_string(),
            ),
            ApiError::UriTooLong { .. } => (StatusCode::URI_TOO_LONG, None, self.to_string()),
            ApiError::HeadersTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                None,
                self.to_string(),
            ),
            ApiError::NotFound | ApiError::NoRoute => {
                (StatusCode::NOT_FOUND, None, self.to_string())
            }
            ApiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, None, self.to_string())
            }
            ApiError::Refused(status) => (*status, None, self.to_string()),
            ApiError::Gone(_) => (StatusCode::GONE, None, self.to_string()),
            ApiError::JobFailed(failure) => (
                status_of(failure.reason),
                failure.field.clone(),
                failure.message.clone(),
            ),
            ApiError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "service unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the service is not available; try again".into(),
                )
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "internal error".into(),
                )
            }
        };
        let body = match field {
            Some(field) => json!({ "error": message, "field": field }),
            None => json!({ "error": message }),
        };
        (status, Json(body)).into_response()
    }
}

//! The gateway's one error type: every failure a client can see, as a status and a JSON body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

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
    #[error("no job with this id")]
    NotFound,
    #[error("no such route; see POST/GET /api/query and GET/DELETE /results/<id>")]
    NoRoute,
    #[error("this result has expired or was evicted; submit the query again")]
    Gone,
    #[error("{message}")]
    JobFailed {
        status: u16,
        message: String,
        field: Option<String>,
    },
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
            ApiError::NotFound | ApiError::NoRoute => {
                (StatusCode::NOT_FOUND, None, self.to_string())
            }
            ApiError::Gone => (StatusCode::GONE, None, self.to_string()),
            ApiError::JobFailed {
                status,
                message,
                field,
            } => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                field.clone(),
                message.clone(),
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

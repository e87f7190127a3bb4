//! `GET /results/<id>[?wait=10s]` and `DELETE /results/<id>` (also under `/api/results/`).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::query::{pending, CSV_CONTENT_TYPE};
use crate::error::ApiError;
use crate::results::Lookup;
use crate::state::AppState;

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::BadRequest {
        field: Some("id".into()),
        message: format!("{id:?} is not a job id (a UUID)"),
    })
}

/// `wait` as `10s`, `1500ms` or plain seconds.
fn parse_wait(text: &str) -> Result<Duration, ApiError> {
    let text = text.trim();
    let parsed = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(Duration::from_secs_f64(secs)),
        Ok(_) => Err(()),
        Err(_) => humantime::parse_duration(text).map_err(|_| ()),
    };
    parsed.map_err(|()| ApiError::BadRequest {
        field: Some("wait".into()),
        message: format!("must be a duration such as 10s or 500ms, got {text:?}"),
    })
}

pub async fn get_result(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let lookup = match params.get("wait") {
        Some(wait) => {
            let wait = parse_wait(wait)?.min(state.settings.max_wait);
            state.results.wait(&id, wait).await
        }
        None => state.results.lookup(&id),
    };
    let retry = state.settings.retry_after_secs;
    match lookup {
        Lookup::Queued => Ok(pending(StatusCode::ACCEPTED, id, "queued", retry, false)),
        Lookup::Running => Ok(pending(StatusCode::ACCEPTED, id, "running", retry, false)),
        Lookup::Done(csv) => Ok(([(header::CONTENT_TYPE, CSV_CONTENT_TYPE)], csv).into_response()),
        Lookup::Failed {
            status,
            error,
            field,
        } => Err(ApiError::JobFailed {
            status,
            message: error,
            field,
        }),
        Lookup::Gone => Err(ApiError::Gone),
        Lookup::Unknown => Err(ApiError::NotFound),
    }
}

pub async fn delete_result(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    if state.results.remove(&id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

//! `GET /results/<id>[?wait=10s]` and `DELETE /results/<id>` (also under `/api/results/`): any gateway answers
//! for any job, from the shared result store.

use std::collections::HashMap;
use std::time::Duration;

use airq_common::results::answer::{csv_stream, gzip_stream};
use airq_common::results::{JobStatus, ResultError};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{stream, StreamExt};
use tokio::time::Instant;
use uuid::Uuid;

use super::query::pending;
use crate::auth::check_owner;
use crate::error::ApiError;
use crate::fair_use::Caller;
use crate::state::AppState;

/// First and longest interval between store reads while a client waits for a job that was queued elsewhere
/// (the queueing gateway's clients are woken by the worker's notice at once).
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(1);

/// The `{id}` segment as a job id. axum refuses a segment that is not UTF-8 once percent-decoded (`%FF`)
/// before it is a `String`; that refusal names `id` too, instead of axum's own text/plain answer.
fn parse_id(path: Result<Path<String>, PathRejection>) -> Result<Uuid, ApiError> {
    let not_an_id = |message: String| ApiError::BadRequest {
        field: Some("id".into()),
        message,
    };
    let Path(id) = path.map_err(|rejection| {
        not_an_id(format!("not a job id (a UUID): {}", rejection.body_text()))
    })?;
    Uuid::parse_str(&id).map_err(|_| not_an_id(format!("{id:?} is not a job id (a UUID)")))
}

/// `wait` as `10s`, `1500ms` or plain seconds; capped by the caller.
fn parse_wait(text: &str, max: Duration) -> Result<Duration, ApiError> {
    let text = text.trim();
    let parsed = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => {
            Ok(Duration::try_from_secs_f64(secs).unwrap_or(max))
        }
        Ok(_) => Err(()),
        Err(_) => humantime::parse_duration(text).map_err(|_| ()),
    };
    parsed
        .map(|d| d.min(max))
        .map_err(|()| ApiError::BadRequest {
            field: Some("wait".into()),
            message: format!("must be a duration such as 10s or 500ms, got {text:?}"),
        })
}

fn unavailable(e: ResultError) -> ApiError {
    if e.is_transient() {
        ApiError::Unavailable(format!("result store: {e}"))
    } else {
        ApiError::Internal(format!("result store: {e}"))
    }
}

/// Reads the job's status until it is no longer pending or `wait` has passed.
async fn wait_for(state: &AppState, id: Uuid, wait: Duration) -> Result<JobStatus, ApiError> {
    let deadline = Instant::now() + wait;
    let mut poll = FIRST_POLL;
    loop {
        let woken = state.waiters.notified(&id);
        let status = state.results.status(id).await.map_err(unavailable)?;
        let now = Instant::now();
        if !status.is_pending() || now >= deadline {
            return Ok(status);
        }
        let _ = tokio::time::timeout(poll.min(deadline - now), woken).await;
        poll = (poll * 2).min(MAX_POLL);
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// A queued job's answer, or its state.
#[utoipa::path(get, path = "/results/{id}", operation_id = "get_result", tag = "results",
    params(("id" = String, Path, description = "The job id from the 202"), crate::openapi::Wait),
    responses(
        (status = 200, description = "The answer, in the format the query asked for",
            headers(("X-Airq-Answered" = String, description = "`queued`")),
            content(
                (String = "text/csv"),
                (Vec<serde_json::Value> = "application/json"),
                (serde_json::Value = "application/x-ndjson"),
                (crate::openapi::FeatureCollection = "application/geo+json"),
            )),
        (status = 202, description = "Still queued or running", body = crate::openapi::Pending, headers(("Retry-After" = u64))),
        (status = 400, description = "Not a job id, or a bad `wait`; or the queued query was refused", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such job (or another key's)", body = crate::openapi::ErrorBody),
        (status = 410, description = "Expired, evicted or cancelled", body = crate::openapi::ErrorBody),
        (status = 500, description = "The job failed on the service's side", body = crate::openapi::ErrorBody),
        (status = 503, description = "The result store is unavailable", body = crate::openapi::ErrorBody),
        (status = 504, description = "No worker answered before the deadline", body = crate::openapi::ErrorBody),
        (status = 507, description = "The answer was larger than one answer may be", body = crate::openapi::ErrorBody),
    ))]
pub async fn get_result(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    check_owner(&state, &caller, id).await?;
    let wait = match params.get("wait") {
        Some(wait) => parse_wait(wait, state.settings.max_wait)?,
        None => Duration::ZERO,
    };
    let status = wait_for(&state, id, wait).await?;
    let retry = state.settings.retry_after_secs;
    match status {
        JobStatus::Queued => Ok(pending(StatusCode::ACCEPTED, id, "queued", retry, false)),
        JobStatus::Running => Ok(pending(StatusCode::ACCEPTED, id, "running", retry, false)),
        JobStatus::Done(answer) => {
            let answer_format = answer.format;
            // The stored parts are one gzip stream: a client that takes gzip gets them as they are (no work
            // here); others get the CSV decompressed a slice at a time. Either way the first chunk is read
            // before the status line, so a missing or damaged answer is an error status, not a broken 200.
            let gzip = accepts_gzip(&headers);
            let mut body = if gzip {
                gzip_stream(state.results.clone(), id, answer)
            } else {
                csv_stream(state.results.clone(), id, answer)
            };
            let first = match body.next().await {
                None => bytes::Bytes::new(),
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => return Err(unavailable(e)),
            };
            let results = state.results.clone();
            tokio::spawn(async move {
                if let Err(e) = results.fetched(id).await {
                    tracing::debug!(job_id = %id, error = %e, "could not note the fetch");
                }
            });
            let rest = body.map(move |chunk| {
                chunk.map_err(|e| {
                    tracing::error!(job_id = %id, error = %e, "stored answer failed while streaming; aborting the response");
                    std::io::Error::other(e)
                })
            });
            let body = Body::from_stream(stream::once(async move { Ok(first) }).chain(rest));
            let format = answer_format;
            let mut response =
                ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
            if gzip {
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
            }
            response.headers_mut().insert(
                header::VARY,
                header::HeaderValue::from_static("accept-encoding"),
            );
            let response = super::download::answered(response, super::download::Answered::Queued);
            let file_name = params
                .get(super::download::PARAM)
                .map(|asked| super::download::result_file_name(id, asked, format));
            Ok(super::download::attach(response, file_name.as_deref()))
        }
        JobStatus::Failed(failure) => Err(ApiError::JobFailed(failure)),
        JobStatus::Gone(reason) => Err(ApiError::Gone(reason)),
        JobStatus::Unknown => Err(ApiError::NotFound),
    }
}

/// Cancels a queued job.
#[utoipa::path(delete, path = "/results/{id}", operation_id = "delete_result", tag = "results",
    params(("id" = String, Path, description = "The job id from the 202")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 400, description = "Not a job id", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such job (or another key's)", body = crate::openapi::ErrorBody),
        (status = 503, description = "The result store is unavailable", body = crate::openapi::ErrorBody),
    ))]
pub async fn delete_result(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    check_owner(&state, &caller, id).await?;
    if state.results.cancel(id).await.map_err(unavailable)? {
        state.outstanding.release(&id);
        state.waiters.wake(&id);
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `/api/results/<id>`: the same as `/results/<id>` (the legacy system's path).
#[allow(clippy::too_many_arguments)]
#[utoipa::path(get, path = "/api/results/{id}", operation_id = "get_api_result", tag = "results",
    params(("id" = String, Path, description = "The job id from the 202"), crate::openapi::Wait),
    responses(
        (status = 200, description = "The answer, in the format the query asked for",
            headers(("X-Airq-Answered" = String, description = "`queued`")),
            content(
                (String = "text/csv"),
                (Vec<serde_json::Value> = "application/json"),
                (serde_json::Value = "application/x-ndjson"),
                (crate::openapi::FeatureCollection = "application/geo+json"),
            )),
        (status = 202, description = "Still queued or running", body = crate::openapi::Pending, headers(("Retry-After" = u64))),
        (status = 400, description = "Not a job id, or a bad `wait`; or the queued query was refused", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such job (or another key's)", body = crate::openapi::ErrorBody),
        (status = 410, description = "Expired, evicted or cancelled", body = crate::openapi::ErrorBody),
        (status = 500, description = "The job failed on the service's side", body = crate::openapi::ErrorBody),
        (status = 503, description = "The result store is unavailable", body = crate::openapi::ErrorBody),
        (status = 504, description = "No worker answered before the deadline", body = crate::openapi::ErrorBody),
        (status = 507, description = "The answer was larger than one answer may be", body = crate::openapi::ErrorBody),
    ))]
pub async fn get_api_result(
    state: State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    params: Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    get_result(state, caller, id, params, headers).await
}

/// `DELETE /api/results/<id>`: the same as on `/results/<id>`.
#[utoipa::path(delete, path = "/api/results/{id}", operation_id = "delete_api_result", tag = "results",
    params(("id" = String, Path, description = "The job id from the 202")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 400, description = "Not a job id", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such job (or another key's)", body = crate::openapi::ErrorBody),
        (status = 503, description = "The result store is unavailable", body = crate::openapi::ErrorBody),
    ))]
pub async fn delete_api_result(
    state: State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    delete_result(state, caller, id).await
}

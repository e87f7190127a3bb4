//! Probes: `/healthz` (the process is up) and `/readyz` (data ready, store and queue reachable).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "probes",
    responses((status = 200, description = "Up", content_type = "application/json", body = serde_json::Value)))]
pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Readiness: the first ingest has finished and the store, queue and result store answer.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "probes",
    responses(
        (status = 200, description = "Ready", content_type = "application/json", body = serde_json::Value),
        (status = 503, description = "Not ready, with the reason", body = crate::openapi::ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    // `error` as in every other error body; `status` and `reason` for the probes that read them already.
    let not_ready = |reason: String| {
        let error = format!("not ready: {reason}");
        let body = json!({ "status": "not ready", "reason": reason, "error": error });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    };
    if !state.is_ready() {
        return not_ready("the first ingest has not finished".into());
    }
    if let Err(e) = state.store.check().await {
        return not_ready(format!("store: {e}"));
    }
    if let Err(e) = state.queues.check().await {
        return not_ready(format!("queue: {e}"));
    }
    if let Err(e) = state.results.check().await {
        return not_ready(format!("result store: {e}"));
    }
    Json(json!({ "status": "ready" })).into_response()
}

//! `GET /api/status`: what an operator (and the web console) wants to know at a glance: how fresh the data
//! is, the last ingest runs, the queue, the workers seen recently, and this gateway.
//!
//! Each part is read with its own time bound and reported on its own: a backend that is down shows as an
//! `error` in its part, and the rest of the page still answers (a status page that fails whenever anything
//! fails is no help in an outage). Answers are cached for [`FRESH`], so a page polled by many browsers costs
//! the backends one read per part per interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airq_common::protocol::now_ms;
use airq_common::store::IngestNote;
use airq_common::time::format_rfc3339;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::state::AppState;

/// How long a status answer is reused.
const FRESH: Duration = Duration::from_secs(2);
/// Each backend read's bound.
const BOUND: Duration = Duration::from_secs(2);
/// Workers seen within this are "seen recently".
pub const WORKERS_WINDOW: Duration = Duration::from_secs(120);

/// The cached answer.
#[derive(Default, Clone)]
pub struct StatusCache(Arc<Mutex<Option<(Instant, Value)>>>);

/// What the service knows about itself: data freshness, the last ingest runs, the queue, workers, version.
#[utoipa::path(get, path = "/api/status", operation_id = "get_status", tag = "meta",
    responses((status = 200, description = "Status", body = serde_json::Value)))]
pub async fn get_status(State(state): State<AppState>) -> Json<Value> {
    let mut cached = state.status_cache.0.lock().await;
    if let Some((at, value)) = cached.as_ref() {
        if at.elapsed() < FRESH {
            return Json(value.clone());
        }
    }
    let value = status(&state).await;
    *cached = Some((Instant::now(), value.clone()));
    Json(value)
}

fn failed(what: &str, e: impl std::fmt::Display) -> Value {
    json!({ "error": format!("{what}: {e}") })
}

async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Value> {
    match tokio::time::timeout(BOUND, read).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failed(what, e)),
        Err(_) => Err(failed(what, format!("no answer within {BOUND:?}"))),
    }
}

fn note_json(note: &Option<IngestNote>) -> Value {
    match note {
        None => Value::Null,
        Some(note) => json!({
            "finished": format_rfc3339(note.finished_ms.div_euclid(1000)),
            "complete": note.complete,
            "summary": note.summary,
        }),
    }
}

async fn status(state: &AppState) -> Value {
    let now = now_ms();
    let (stats, notes, depth, members) = tokio::join!(
        bounded("store", state.store.stats()),
        bounded("store", state.store.ingest_notes()),
        bounded("queue", state.requests.depth()),
        bounded(
            "result store",
            state
                .results
                .members(now - WORKERS_WINDOW.as_millis() as i64)
        ),
    );
    let data = match stats {
        Ok(stats) => json!({
            "readings": stats.readings,
            "readings_approximate": stats.approximate,
            "oldest": stats.oldest.map(format_rfc3339),
            "newest": stats.newest.map(format_rfc3339),
            "newest_age_seconds": stats.newest.map(|t| (now.div_euclid(1000) - t).max(0)),
        }),
        Err(e) => e,
    };
    let ingest = match notes {
        Ok(notes) => json!({
            "last": note_json(&notes.last),
            "last_complete": note_json(&notes.last_complete),
        }),
        Err(e) => e,
    };
    let queue = match depth {
        Ok(depth) => json!({
            "waiting": depth.visible,
            "in_flight": depth.in_flight,
            "dead_lettered": depth.dead_lettered,
            "oldest_age_seconds": depth.oldest_age.map(|a| a.as_secs()),
        }),
        Err(e) => e,
    };
    let workers = match members {
        Ok(members) => json!({
            "seen_recently": members.len(),
            "window_seconds": WORKERS_WINDOW.as_secs(),
            "members": members
                .iter()
                .map(|(id, at)| json!({ "id": id, "last_seen": format_rfc3339(at.div_euclid(1000)) }))
                .collect::<Vec<_>>(),
        }),
        Err(e) => e,
    };
    let free = state.direct.available_permits();
    json!({
        "service": "airq",
        "version": env!("CARGO_PKG_VERSION"),
        "now": format_rfc3339(now.div_euclid(1000)),
        "ready": state.is_ready(),
        "data": data,
        "ingest": ingest,
        "queue": queue,
        "workers": workers,
        "gateway": {
            "uptime_seconds": state.started.elapsed().as_secs(),
            "direct_limit": state.direct_limit,
            "direct_in_flight": state.direct_limit.saturating_sub(free),
            "api_keys": state.keys.is_some(),
        },
    })
}

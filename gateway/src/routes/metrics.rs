//! The gateway's metrics: every response counted by route pattern, method, status and answer path (the
//! `X-Airq-Answered` header the handlers set), with its
//! latency; `/metrics` itself, which also reads the gauges that are cheaper to read at a scrape than to keep
//! (direct answers in flight, the queue's depth and age, the result store's size).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use airq_common::metrics::{
    DIRECT_IN_FLIGHT, DIRECT_LIMIT, HTTP_DURATION, HTTP_REQUESTS, QUEUE_DEPTH, QUEUE_OLDEST_AGE,
    RESULT_STORE_ANSWERS, RESULT_STORE_BYTES,
};
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};

use crate::state::AppState;

/// Counts every response by route pattern, method, status and answer path, and times its head.
///
/// The `metrics` macros build a key (a vector of labels), hash it and look it up in the registry at every call,
/// ~3% of a cached answer's CPU; here each label set's handles are made once and then found by four `Copy`
/// labels. The sets are bounded: routes (patterns or `unmatched`, so a scanner's random URLs cannot grow them)
/// × methods × statuses × paths.
#[derive(Default)]
pub struct ResponseMetrics {
    handles: RwLock<HashMap<Labels, (Counter, Histogram)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Labels {
    route: &'static str,
    method: &'static str,
    status: u16,
    path: &'static str,
}

impl ResponseMetrics {
    /// Counts `response` to a request for `route` and records how long its head took since `started`.
    pub fn record(
        &self,
        route: &'static str,
        method: &Method,
        response: &Response,
        started: Instant,
    ) {
        let method: &'static str = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::DELETE => "DELETE",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        // The answer path is the header the handlers set for clients (`X-Airq-Answered`), read back here.
        let path = match response
            .headers()
            .get(super::download::ANSWERED)
            .map(|v| v.as_bytes())
        {
            Some(b"direct") => "direct",
            Some(b"queued") => "queued",
            _ => "none",
        };
        let labels = Labels {
            route,
            method,
            status: response.status().as_u16(),
            path,
        };
        let known = self
            .handles
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&labels)
            .cloned();
        let (counter, histogram) = known.unwrap_or_else(|| {
            let handles = (
                metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method,
                    "status" => labels.status.to_string(), "path" => path),
                metrics::histogram!(HTTP_DURATION, "route" => route, "path" => path),
            );
            self.handles
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(labels, handles.clone());
            handles
        });
        counter.increment(1);
        histogram.record(started.elapsed().as_secs_f64());
    }
}

/// `GET /metrics`: the gauges read now, then everything rendered.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn scrape(State(state): State<AppState>) -> Response {
    read_gauges(&state, false).await;
    airq_common::metrics::handler().await.into_response()
}

/// The gauges a scrape reads: each backend call bounded, so a slow backend delays a scrape, never stops it.
pub async fn read_gauges(state: &AppState, with_usage: bool) {
    let limit = state.direct_limit;
    let free = state.direct.available_permits();
    metrics::gauge!(DIRECT_LIMIT).set(limit as f64);
    metrics::gauge!(DIRECT_IN_FLIGHT).set(limit.saturating_sub(free) as f64);
    metrics::gauge!(airq_common::metrics::ANSWER_CACHE_BYTES)
        .set(state.answers.cache.weight() as f64);
    let bound = Duration::from_secs(2);
    if let Ok(Ok(depth)) = tokio::time::timeout(bound, state.requests.depth()).await {
        metrics::gauge!(QUEUE_DEPTH, "queue" => "requests", "state" => "visible")
            .set(depth.visible as f64);
        metrics::gauge!(QUEUE_DEPTH, "queue" => "requests", "state" => "in_flight")
            .set(depth.in_flight as f64);
        if let Some(dead) = depth.dead_lettered {
            metrics::gauge!(QUEUE_DEPTH, "queue" => "dead_letter", "state" => "visible")
                .set(dead as f64);
        }
        if let Some(age) = depth.oldest_age {
            metrics::gauge!(QUEUE_OLDEST_AGE).set(age.as_secs_f64());
        }
    }
    if !with_usage {
        return;
    }
    if let Ok(Ok(usage)) = tokio::time::timeout(bound, state.results.usage()).await {
        metrics::gauge!(RESULT_STORE_BYTES).set(usage.stored_bytes as f64);
        metrics::gauge!(RESULT_STORE_ANSWERS).set(usage.answers as f64);
    }
}

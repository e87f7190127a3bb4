//! What runs around every route, in one middleware and in this order: the request's tracing span and its
//! metrics (outermost, so they see every answer), the head limits (`head_limits`), the whole body within its
//! deadline (`body`), then the route itself, whose panic becomes the API's 500 (`refusals::panicked`) and whose
//! error responses are shaped into JSON (`refusals::json_errors`).
//!
//! Why one middleware and not a layer each: axum wraps every route in every layer, and clones the whole chain
//! of boxed services under a layer for each request (once per `Route` and again in each `from_fn`), so six
//! layers cost six boxed clones, six drops and six boxed futures per request: ~10% of a cached answer's CPU.
//! Here the order is one function to read, too.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use tracing::Instrument;

use super::metrics::ResponseMetrics;
use super::{body, head_limits, refusals, RequestLimits};

/// What the middleware needs: the request limits and the response metrics' handles.
#[derive(Clone)]
pub struct Front {
    pub limits: RequestLimits,
    pub metrics: Arc<ResponseMetrics>,
}

/// The middleware: see the module's documentation.
pub async fn front(State(front): State<Front>, request: Request, next: Next) -> Response {
    // Keyed by the route pattern, not the raw URI, so ids do not explode log or label cardinality.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| route_label(p.as_str()));
    let method = request.method().clone();
    // At DEBUG, not INFO: the fmt subscriber formats an enabled span's fields into a string of its own when the
    // span is made, ~4% of a cached answer's CPU, for a span that at the default level frames nothing but the
    // rare warning (whose message says what failed). `RUST_LOG=debug` brings every request's span back, with a
    // line per answer.
    let span = tracing::debug_span!("request", method = %method, route = route);
    let started = Instant::now();
    let response = guarded(front.limits, request, next)
        .instrument(span.clone())
        .await;
    front.metrics.record(route, &method, &response, started);
    let _entered = span.enter();
    tracing::debug!(
        status = response.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "answered"
    );
    response
}

async fn guarded(limits: RequestLimits, request: Request, next: Next) -> Response {
    if let Err(refused) = head_limits::check(&request) {
        return refused.into_response();
    }
    let request = match body::read_whole(limits, request).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => refusals::json_errors(response),
        Err(payload) => refusals::panicked(payload),
    }
}

/// The route pattern as a `&'static str`, so that neither the span nor the metric labels allocate a copy per
/// request. Patterns are the router's own (axum puts nothing else in `MatchedPath`), so the set is as small and
/// fixed as the route table; each is leaked once.
fn route_label(pattern: &str) -> &'static str {
    static KNOWN: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(label) = known
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(pattern)
    {
        return label;
    }
    let mut known = known
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(label) = known.get(pattern) {
        return label;
    }
    let label: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
    known.insert(label);
    label
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn a_pattern_is_leaked_once() {
        let first = route_label("/api/query");
        let again = route_label(&String::from("/api/query"));
        assert!(std::ptr::eq(first, again));
        assert_eq!(route_label("/results/{id}"), "/results/{id}");
    }
}

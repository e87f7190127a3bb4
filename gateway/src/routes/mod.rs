//! HTTP routes: `query` (direct or queued answers), `results` (polling queued jobs), `health` (probes),
//! `refusals` (404, 405, and JSON bodies for every error response), `head_limits` (414, 431), `body` (the
//! whole body within one deadline), `front` (the one middleware around every route that applies those), `console` (the web console at `/`), `download` (`?download` file names and
//! the answered-path header), `cors` (`--cors-origin`).

pub mod body;
pub mod conditional;
pub mod console;
pub mod cors;
pub mod download;
pub mod front;
pub mod head_limits;
pub mod health;
pub mod metrics;
pub mod query;
pub mod refusals;
pub mod results;
pub mod status;

use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// Limits on what a client may send.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_body: usize,
    pub body_timeout: Duration,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricsRoute {
    /// On the API port, behind the API key when keys are on (the default).
    #[default]
    Api,
    /// Only on a separate `--metrics-listen` port, which an operator opens to the scraper alone.
    Elsewhere,
}

pub fn router(state: AppState, limits: RequestLimits, metrics_route: MetricsRoute) -> Router {
    // The API routes need a key (when keys are on) and count against their client's rate; the probes never do
    // (a load balancer must always reach them).
    let mut api = Router::new()
        .route("/api/query", post(query::post_query).get(query::get_query))
        .route("/api/latest", get(query::get_latest))
        .route("/api/aggregate", get(query::get_aggregate))
        .route("/api/status", get(status::get_status))
        .route(
            "/results/{id}",
            get(results::get_result).delete(results::delete_result),
        )
        .route(
            "/api/results/{id}",
            get(results::get_api_result).delete(results::delete_api_result),
        );
    if metrics_route == MetricsRoute::Api {
        api = api.route("/metrics", get(metrics::scrape));
    }
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::auth::admit,
    ));
    Router::new()
        .merge(api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // The console is a page, not an API call: outside the rate limit too.
        .merge(console::routes())
        // The API's description is documentation: public, like the console.
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .fallback(refusals::not_found)
        // After the routes: it applies to the routes registered so far.
        .method_not_allowed_fallback(refusals::method_not_allowed)
        // Tracing, metrics, head limits, the body, panics and JSON refusals: one layer (see `front`).
        .layer(axum::middleware::from_fn_with_state(
            front::Front {
                limits,
                metrics: Default::default(),
            },
            front::front,
        ))
        .with_state(state)
}

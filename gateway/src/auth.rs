//! Who may use the API, and whose a queued job is.
//!
//! Keys are off unless the gateway is given a keys file (`--api-keys`, see [`airq_common::api_keys`]): a
//! gateway on its default loopback address is a developer's, and needs none. A gateway listening anywhere else
//! refuses to start without either a keys file or an explicit `--no-api-keys` (see [`crate::config`]), so an
//! open API on a public address is always a decision, never an accident; `airq-deploy` gives its gateways keys.
//!
//! With keys on, every API request needs `Authorization: Bearer <key>`: without one, `401` with
//! `WWW-Authenticate: Bearer` and a JSON body naming the `authorization` field. A queued job belongs to the key
//! that created it: another key asking for it, or cancelling it, is told there is no such job (`404`, the same
//! answer as for an id never issued, so ids cannot be probed). The probes (`/healthz`, `/readyz`) never need a
//! key: a load balancer must reach them.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::fair_use::Caller;
use crate::state::AppState;

/// The peer of a request (the server records it per connection); an in-process call counts as loopback.
fn peer_of(extensions: &axum::http::Extensions) -> SocketAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Why a request's key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyProblem {
    Missing,
    Malformed,
    Unknown,
}

/// The bearer token of `Authorization`, if any (RFC 6750: scheme case-insensitive, one space, the token).
fn bearer(headers: &HeaderMap) -> Result<&str, KeyProblem> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if headers.contains_key(header::AUTHORIZATION) {
            KeyProblem::Malformed
        } else {
            KeyProblem::Missing
        });
    };
    let text = value.to_str().map_err(|_| KeyProblem::Malformed)?;
    let (scheme, token) = text.split_once(' ').ok_or(KeyProblem::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(KeyProblem::Malformed);
    }
    Ok(token)
}

fn unauthorized(problem: KeyProblem) -> Response {
    let (message, challenge) = match problem {
        KeyProblem::Missing => (
            "this gateway requires an API key: send the header Authorization: Bearer <key>",
            "Bearer realm=\"airq\"",
        ),
        KeyProblem::Malformed => (
            "the Authorization header must be one `Bearer <key>`",
            "Bearer realm=\"airq\", error=\"invalid_request\"",
        ),
        KeyProblem::Unknown => (
            "this API key is not valid here",
            "Bearer realm=\"airq\", error=\"invalid_token\"",
        ),
    };
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": message, "field": "authorization" })),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// Middleware on the API routes: identifies the caller (by key when keys are on), applies its request rate,
/// and leaves the [`Caller`] in the request for the handlers. A request without a valid key is counted against
/// its address before it is refused, so a flood of bad keys is rate-limited like any other.
pub async fn admit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = peer_of(request.extensions());
    let caller = match &state.keys {
        None => Caller::at(peer),
        Some(keys) => {
            let named = bearer(request.headers()).and_then(|token| {
                keys.identify(token)
                    .map(str::to_string)
                    .ok_or(KeyProblem::Unknown)
            });
            match named {
                Ok(name) => Caller::keyed(peer, &name),
                Err(problem) => {
                    if let Err(refused) = state.fair.request(&Caller::at(peer)) {
                        return refused.into_response();
                    }
                    return unauthorized(problem);
                }
            }
        }
    };
    if let Err(refused) = state.fair.request(&caller) {
        return refused.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    /// The caller [`admit`] identified; a request that did not pass through it is known by its address.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller::at(peer_of(&parts.extensions))))
    }
}

/// Refuses a caller that is not the job's owner, as if the job did not exist. Without keys every job is
/// everyone's; a job created before keys were turned on (no owner) is any key holder's.
pub async fn check_owner(state: &AppState, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    if state.keys.is_none() {
        return Ok(());
    }
    let owner = state.results.owner(id).await.map_err(|e| {
        if e.is_transient() {
            ApiError::Unavailable(format!("result store: {e}"))
        } else {
            ApiError::Internal(format!("result store: {e}"))
        }
    })?;
    match owner {
        Some(owner) if caller.key.as_deref() != Some(owner.as_str()) => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(bearer(&headers(&[])), Err(KeyProblem::Missing));
        assert_eq!(bearer(&headers(&["Bearer airq_x"])), Ok("airq_x"));
        assert_eq!(bearer(&headers(&["bearer airq_x "])), Ok("airq_x"));
        for bad in ["airq_x", "Basic YTpi", "Bearer ", "Bearer"] {
            assert_eq!(
                bearer(&headers(&[bad])),
                Err(KeyProblem::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            bearer(&headers(&["Bearer a", "Bearer b"])),
            Err(KeyProblem::Malformed),
            "two keys are not one"
        );
    }
}

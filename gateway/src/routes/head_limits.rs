//! Limits on the request head (target and header fields) that the gateway checks itself, so that a client
//! over them gets a JSON 414 or 431 like any other refusal. hyper has limits of its own, but answers them
//! with a bare status line before any service runs; those are well above these (see
//! [`HYPER_MAX_HEADER_FIELDS`]), so that these are the ones a client meets.

use axum::extract::Request;

use crate::error::ApiError;

/// Longest request target (path and query, and authority if absolute) accepted. The longest query the API
/// takes is under 200 bytes; 8 KiB is what common servers and proxies in front of one accept (nginx's default
/// header buffer, Apache's `LimitRequestLine`). hyper's own limit is a fixed 65534 bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Most header fields accepted. Browsers send 10-20, and proxies in front add a handful each; 64 leaves room
/// for both, below hyper's own limit ([`HYPER_MAX_HEADER_FIELDS`]).
pub const MAX_HEADER_FIELDS: usize = 64;

/// Most bytes of header names and values accepted, all fields together. Browsers and HTTP clients send well
/// under 8 KiB; the head as a whole (with the target and line ends) stays far below hyper's read buffer
/// (~400 KiB by default), past which hyper answers itself.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// hyper's header-field limit: its default, which the server keeps (it is not set), because with the default
/// hyper parses a head into arrays on the stack, while any `http1().max_headers` makes it allocate and fill two
/// arrays of that size for every request (~4% of a cached answer's CPU at 200). It is above
/// [`MAX_HEADER_FIELDS`], so a request over the gateway's limit still reaches the gateway; above this one hyper
/// answers a bare 431.
pub const HYPER_MAX_HEADER_FIELDS: usize = 100;

const _: () = assert!(MAX_HEADER_FIELDS < HYPER_MAX_HEADER_FIELDS);

/// Refuses a request whose target or header fields are over the limits above, before any handler runs.
pub fn check(request: &Request) -> Result<(), ApiError> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::UriTooLong {
            limit: MAX_URI_BYTES,
        });
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADER_FIELDS {
        return Err(ApiError::HeadersTooLarge(format!(
            "{} header fields; at most {MAX_HEADER_FIELDS} are accepted",
            headers.len()
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(format!(
            "header fields of {bytes} bytes; at most {MAX_HEADER_BYTES} are accepted"
        )));
    }
    Ok(())
}

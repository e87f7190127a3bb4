//! Hostile and malformed requests against the real gateway: whatever part refuses a request, the client gets a
//! status and a `{"error", "field"?}` JSON body, never an empty reply. The cases are listed in
//! docs/reliability.md.

use std::time::Duration;

use airq_gateway::state::Settings;
use airq_gateway::GatewayOptions;
use serde_json::Value;

use crate::raw::{self, request, Reply};
use crate::support::start;

/// A job id nobody has queued.
const UNKNOWN_JOB: &str = "6f1c2b9e-2d6c-4c53-9f0e-0a4b5d9d2c11";

/// Asserts that `reply` is a JSON error with `status`, a non-empty `error` and, if given, `field`.
fn assert_json_error(case: &str, reply: &Reply, status: u16, field: Option<&str>) -> Value {
    assert_eq!(reply.status, status, "{case}: {reply:?}");
    let content_type = reply.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{case}: content type {content_type:?}: {reply:?}"
    );
    let body = reply
        .json()
        .unwrap_or_else(|| panic!("{case}: body is not JSON: {reply:?}"));
    let error = body["error"].as_str().unwrap_or("");
    assert!(!error.is_empty(), "{case}: no error message: {body}");
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{case}: {body}");
    }
    body
}

/// Finding 5: `?wait=1e20` used to panic the handler (`Duration::from_secs_f64` overflows), which gave the
/// client an empty reply. Every absurd wait is now either refused naming `wait` or capped at `max_wait`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_waits_are_refused_or_capped() {
    let options = GatewayOptions {
        settings: Settings {
            max_wait: Duration::from_millis(200),
            ..Settings::default()
        },
        ..GatewayOptions::default()
    };
    // No workers: the job stays queued, so a capped wait ends with a 202 after `max_wait`.
    let sys = start(options, 0, &[]).await;
    let id = sys.submit_async("start=2019-04-16&end=2019-04-17").await;
    for wait in ["1e20", "18446744073709551616", "1e300"] {
        let target = format!("/results/{id}?wait={wait}");
        let reply = raw::send(&sys.base, &request("GET", &target, &[], None)).await;
        assert_eq!(reply.status, 202, "wait={wait}: {reply:?}");
        let body = reply.json().expect("JSON body");
        assert_eq!(body["status"], "queued", "wait={wait}: {body}");
    }
    for wait in [
        "1e400",
        "-1",
        "-1e20",
        "NaN",
        "inf",
        "-inf",
        "1e400s",
        "99999999999999999999999s",
    ] {
        for job in [id.as_str(), UNKNOWN_JOB] {
            let target = format!("/results/{job}?wait={wait}");
            let reply = raw::send(&sys.base, &request("GET", &target, &[], None)).await;
            assert_json_error(&format!("wait={wait}"), &reply, 400, Some("wait"));
        }
    }
    sys.stop().await;
}

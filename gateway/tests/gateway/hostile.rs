//! Hostile and malformed requests against the real gateway: whatever part refuses a request, the client gets a
//! status and a `{"error", "field"?}` JSON body, never an empty reply. The cases are listed in
//! docs/reliability.md.

use std::time::Duration;

use airq_gateway::state::Settings;
use airq_gateway::GatewayOptions;
use serde_json::Value;

use airq_gateway::routes::head_limits::{
    HYPER_MAX_HEADER_FIELDS, MAX_HEADER_BYTES, MAX_HEADER_FIELDS, MAX_URI_BYTES,
};

use crate::raw::{self, request, Reply};
use crate::support::start;

/// A job id nobody has queued.
const UNKNOWN_JOB: &str = "6f1c2b9e-2d6c-4c53-9f0e-0a4b5d9d2c11";

/// What is wrong with `reply` as a JSON error with `status`, a non-empty `error` and, if given, `field`; `None`
/// when it is right.
fn problem(reply: &Reply, status: u16, field: Option<&str>) -> Option<String> {
    let content_type = reply.header("content-type").unwrap_or("");
    let body = reply.json().unwrap_or(Value::Null);
    let error = body["error"].as_str().unwrap_or("");
    let wrong = reply.status != status
        || !content_type.starts_with("application/json")
        || error.is_empty()
        || field.is_some_and(|field| body["field"] != field);
    wrong.then(|| {
        format!(
            "{} {content_type:?} {:?}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    })
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
            if let Some(problem) = problem(&reply, 400, Some("wait")) {
                panic!("wait={wait}: expected a 400 naming wait, got {problem}");
            }
        }
    }
    sys.stop().await;
}

/// One refused request: what it is, its bytes, and the status and `field` the client must get.
struct Case {
    what: String,
    bytes: Vec<u8>,
    status: u16,
    field: Option<&'static str>,
}

fn case(what: &str, bytes: Vec<u8>, status: u16, field: Option<&'static str>) -> Case {
    Case {
        what: what.to_string(),
        bytes,
        status,
        field,
    }
}

/// Finding 7: one request for each way the gateway can refuse one (router, extractors, body limit, head
/// limits, the query parser), each answered with a JSON error. All cases run before the assertion, so a
/// failure lists every case that is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_a_json_error() {
    let sys = start(GatewayOptions::default(), 0, &[]).await;
    let window = r#""startDate": "2019-04-16", "endDate": "2019-04-17""#;
    let mut cases = Vec::new();
    sys.set_ready(false);
    cases.push(case(
        "GET /readyz before the first ingest",
        request("GET", "/readyz", &[], None),
        503,
        None,
    ));
    for method in ["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"] {
        let body = (method != "TRACE").then_some(&b"{}"[..]);
        cases.push(case(
            &format!("{method} /api/query"),
            request(method, "/api/query", &[], body),
            405,
            None,
        ));
    }
    cases.push(case(
        "POST /healthz",
        request("POST", "/healthz", &[], Some(b"{}")),
        405,
        None,
    ));
    cases.push(case(
        "GET /nowhere",
        request("GET", "/nowhere", &[], None),
        404,
        None,
    ));
    let huge = format!(r#"{{{window}, "pad": "{}"}}"#, "x".repeat(100_000));
    cases.push(case(
        "body over --max-body",
        request("POST", "/api/query", &[], Some(huge.as_bytes())),
        413,
        Some("body"),
    ));
    let twice = format!(r#"{{{window}, "startDate": "2019-04-15"}}"#);
    cases.push(case(
        "startDate twice in the body",
        request("POST", "/api/query", &[], Some(twice.as_bytes())),
        400,
        Some("startDate"),
    ));
    cases.push(case(
        "non-UTF-8 job id",
        request("GET", "/results/%FF%FE", &[], None),
        400,
        Some("id"),
    ));
    cases.push(case(
        "non-UTF-8 job id, DELETE",
        request("DELETE", "/api/results/%C3%28", &[], None),
        400,
        Some("id"),
    ));
    cases.push(case(
        "non-UTF-8 query parameter",
        request("GET", "/api/query?start=%FF&end=2019-04-17", &[], None),
        400,
        Some("start"),
    ));
    cases.push(case(
        "wait=NaN",
        request(
            "GET",
            &format!("/results/{UNKNOWN_JOB}?wait=NaN"),
            &[],
            None,
        ),
        400,
        Some("wait"),
    ));
    let long = format!("/api/query?pad={}", "x".repeat(MAX_URI_BYTES));
    cases.push(case(
        "a URI over the limit",
        request("GET", &long, &[], None),
        414,
        None,
    ));
    let names: Vec<String> = (0..MAX_HEADER_FIELDS)
        .map(|i| format!("x-pad-{i}"))
        .collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    cases.push(case(
        "header fields over the limit",
        request("GET", "/healthz", &many, None),
        431,
        None,
    ));
    let big = "x".repeat(MAX_HEADER_BYTES);
    cases.push(case(
        "header bytes over the limit",
        request("GET", "/healthz", &[("x-pad", &big)], None),
        431,
        None,
    ));

    let mut wrong = Vec::new();
    for case in &cases {
        let reply = raw::send(&sys.base, &case.bytes).await;
        if let Some(problem) = problem(&reply, case.status, case.field) {
            wrong.push(format!("{}: {problem}", case.what));
        } else if case.status == 405 && reply.header("allow").is_none_or(str::is_empty) {
            wrong.push(format!("{}: 405 without Allow", case.what));
        }
    }
    assert!(
        wrong.is_empty(),
        "not the JSON errors expected:\n{}",
        wrong.join("\n")
    );
    sys.stop().await;
}

/// A head exactly at the gateway's limits is served: the limits refuse only what is over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_at_the_limits_is_served() {
    let sys = start(GatewayOptions::default(), 0, &[]).await;
    // `request` adds Host and Connection: two fields, 28 bytes of names and values.
    let (fields, bytes) = (2, "hostairq.testconnectionclose".len());
    let target = format!("/healthz?{}", "x".repeat(MAX_URI_BYTES - "/healthz?".len()));
    let names: Vec<String> = (fields..MAX_HEADER_FIELDS)
        .map(|i| format!("x-{i:03}"))
        .collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let big = "x".repeat(MAX_HEADER_BYTES - bytes - "x-pad".len());
    for (what, bytes) in [
        ("a URI at the limit", request("GET", &target, &[], None)),
        (
            "header fields at the limit",
            request("GET", "/healthz", &many, None),
        ),
        (
            "header bytes at the limit",
            request("GET", "/healthz", &[("x-pad", &big)], None),
        ),
    ] {
        let reply = raw::send(&sys.base, &bytes).await;
        assert_eq!(reply.status, 200, "{what}: {reply:?}");
    }
    sys.stop().await;
}

/// A body that stops short of its `Content-Length` is read until the (total) body deadline, then refused as a
/// JSON 408 naming `body`. The deadline passing is the behaviour under test, hence the short one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_short_of_its_content_length_is_a_json_408() {
    let mut options = GatewayOptions::default();
    options.request.body_timeout = Duration::from_millis(300);
    let sys = start(options, 0, &[]).await;
    let short = b"POST /api/query HTTP/1.1\r\nHost: airq.test\r\nConnection: close\r\n\
                  Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"startDate\": ";
    let reply = raw::send(&sys.base, short).await;
    if let Some(problem) = problem(&reply, 408, Some("body")) {
        panic!("expected a 408 naming body, got {problem}");
    }
    sys.stop().await;
}

/// What hyper answers itself, before any service runs, so that the gateway cannot make it JSON: a request head
/// it cannot parse or frame gets a bare status line with `content-length: 0`, and the connection is closed
/// (docs/reliability.md says why). Pinned so that a hyper upgrade that changes it is noticed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_answers_unparseable_heads_itself_without_a_body() {
    let sys = start(GatewayOptions::default(), 0, &[]).await;
    let post_with = |length: &str| {
        format!("POST /api/query HTTP/1.1\r\nHost: airq.test\r\n{length}\r\n{{}}").into_bytes()
    };
    let names: Vec<String> = (0..=HYPER_MAX_HEADER_FIELDS)
        .map(|i| format!("x-pad-{i}"))
        .collect();
    let too_many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "Content-Length: abc",
            post_with("Content-Length: abc\r\n"),
            400,
        ),
        (
            "Content-Length: -1",
            post_with("Content-Length: -1\r\n"),
            400,
        ),
        (
            "two different Content-Lengths",
            post_with("Content-Length: 2\r\nContent-Length: 3\r\n"),
            400,
        ),
        (
            "a request line without a target",
            b"GET\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an unknown HTTP version",
            b"GET /healthz HTTP/9.9\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a raw non-UTF-8 byte in the target",
            b"GET /results/\xff\xfe HTTP/1.1\r\nHost: airq.test\r\n\r\n".to_vec(),
            400,
        ),
        (
            // Over hyper's 64 KiB head buffer (`ServerLimits::max_header_bytes`) before its 65534-byte URI
            // limit: 431.
            "a URI over 65534 bytes",
            request(
                "GET",
                &format!("/api/query?{}", "x".repeat(70_000)),
                &[],
                None,
            ),
            431,
        ),
        (
            "header fields over hyper's limit",
            request("GET", "/healthz", &too_many, None),
            431,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, bytes, status) in cases {
        let reply = raw::send(&sys.base, &bytes).await;
        let bare = reply.body.is_empty()
            && reply.header("content-length") == Some("0")
            && reply.header("connection") == Some("close");
        if reply.status != status || !bare {
            wrong.push(format!("{what}: {reply:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "hyper's own answers changed:\n{}",
        wrong.join("\n")
    );
    sys.stop().await;
}

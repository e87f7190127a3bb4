//! `--api-key`: every request of the protocol (the query and each poll) carries `Authorization: Bearer KEY`, and
//! a 401 is counted as its own error class. Against a small hyper server on port 0 that records what it was sent
//! and plays a gateway that wants one key (the real gateway on this branch has no keys yet).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use airq_loadtest::client::{ApiKey, ErrorClass};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// What the server was sent: method, path and query, and the Authorization header.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// A stand-in gateway on 127.0.0.1:0: queues every query (202 with an id) and answers its poll with a CSV, for
/// requests bearing `key`; anything else gets a JSON 401. Returns its URL and what it saw.
async fn gateway_wanting(key: &str) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let (wanted, record) = (format!("Bearer {key}"), seen.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (wanted, record) = (wanted.clone(), record.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let authorization = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let path = req
                    .uri()
                    .path_and_query()
                    .map_or("/".to_string(), |p| p.to_string());
                let allowed = authorization.as_deref() == Some(wanted.as_str());
                record.lock().unwrap_or_else(|p| p.into_inner()).push((
                    req.method().to_string(),
                    path.clone(),
                    authorization,
                ));
                let (status, body): (u16, &'static [u8]) = if !allowed {
                    (401, br#"{"error":"an API key is required"}"#)
                } else if path.starts_with("/api/query") {
                    (202, br#"{"id":"job1","status":"queued"}"#)
                } else {
                    (200, b"id,sensor_id,x\n1,2,3\n")
                };
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(status)
                            .body(http_body_util::Full::new(Bytes::from_static(body)))
                            .unwrap_or_default(),
                    )
                }
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_sent_on_the_query_and_every_poll() {
    let key = airq_common::api_keys::new_key();
    let (base, seen) = gateway_wanting(&key).await;
    let mut a = crate::args(&base);
    a.requests = Some(4);
    a.concurrency = 2;
    a.api_key = Some(key.parse::<ApiKey>().expect("a key"));
    let (report, _) = airq_loadtest::run(&a).await.expect("run");
    assert_eq!(report.ok, 4, "{}", report.summary());
    assert_eq!(report.queued, 4);
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let posts = seen.iter().filter(|(m, _, _)| m == "POST").count();
    let polls = seen
        .iter()
        .filter(|(m, p, _)| m == "GET" && p.starts_with("/results/job1"))
        .count();
    assert_eq!((posts, polls), (4, 4), "{seen:?}");
    let bearer = format!("Bearer {key}");
    assert!(
        seen.iter()
            .all(|(_, _, auth)| auth.as_deref() == Some(bearer.as_str())),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_a_failure_of_its_own_class() {
    let (base, seen) = gateway_wanting(&airq_common::api_keys::new_key()).await;
    for api_key in [None, Some(airq_common::api_keys::new_key())] {
        let sent = api_key.is_some();
        let mut a = crate::args(&base);
        a.requests = Some(3);
        a.api_key = api_key.map(|k| k.parse().expect("a key"));
        let (report, _) = airq_loadtest::run(&a).await.expect("run");
        assert_eq!((report.ok, report.failed), (0, 3), "{}", report.summary());
        assert_eq!(report.errors.get(&ErrorClass::Unauthorized), Some(&3));
        assert_eq!(report.errors.get(&ErrorClass::Http4xx), None);
        assert_eq!(report.status_codes.get("401"), Some(&3));
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["errors"]["unauthorized"], 3, "{json}");
        let summary = report.summary();
        assert!(
            summary.contains("unauthorized: 3") && summary.contains("--api-key"),
            "{summary}"
        );
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(
            seen.iter().filter(|(_, _, auth)| auth.is_some()).count(),
            if sent { 3 } else { 0 },
            "{seen:?}"
        );
    }
}

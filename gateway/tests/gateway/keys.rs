//! API keys, job ownership, pending jobs per client, and panics (issue 10, finding 6 and 5): before, no route
//! needed anything, anyone who learnt a job id could read or DELETE it, one client could hold any number of
//! queued jobs, and a handler's panic gave the client an empty reply.

use std::sync::Arc;

use airq_common::api_keys::{file_line, new_key, ApiKeys};
use airq_common::backends::{BackendUrls, Backends};
use airq_common::results::ResultOptions;
use airq_common::store::{
    IngestNote, IngestNotes, PageStream, ReadingStore, StoreError, StoreStats,
};
use airq_common::{Query, Reading};
use airq_gateway::fair_use::FairUseLimits;
use airq_gateway::{GatewayOptions, SystemBuilder};
use serde_json::Value;

use crate::support::{sample_readings, start};

const QUERY: &str = "/api/query?start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z";

struct Keys {
    alice: String,
    bob: String,
    keys: Arc<ApiKeys>,
}

fn keys() -> Keys {
    let (alice, bob) = (new_key(), new_key());
    let file = format!(
        "{}\n{}\n",
        file_line("alice", &alice),
        file_line("bob", &bob)
    );
    Keys {
        keys: Arc::new(ApiKeys::parse(&file).expect("keys")),
        alice,
        bob,
    }
}

fn keyed(keys: &Keys) -> GatewayOptions {
    GatewayOptions {
        api_keys: Some(keys.keys.clone()),
        ..GatewayOptions::default()
    }
}

async fn refused_401(response: reqwest::Response, challenge: &str) {
    assert_eq!(response.status(), 401);
    let www = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        www.starts_with("Bearer") && www.contains(challenge),
        "{www}"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["field"], "authorization");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_needs_a_valid_key_and_the_probes_none() {
    let k = keys();
    let sys = start(keyed(&k), 1, &sample_readings()).await;
    let get = |path: &str| sys.client.get(sys.url(path));
    refused_401(get(QUERY).send().await.expect("send"), "realm").await;
    refused_401(
        get(QUERY)
            .bearer_auth(new_key())
            .send()
            .await
            .expect("send"),
        "invalid_token",
    )
    .await;
    refused_401(
        get(QUERY)
            .header("Authorization", format!("Basic {}", k.alice))
            .send()
            .await
            .expect("send"),
        "invalid_request",
    )
    .await;
    refused_401(
        sys.client
            .post(sys.url("/api/query"))
            .json(&serde_json::json!({"startDate": "2019-04-16 14:00:00", "endDate": "2019-04-16 15:00:00"}))
            .send()
            .await
            .expect("send"),
        "realm",
    )
    .await;
    refused_401(
        get(&format!("/results/{}", uuid::Uuid::new_v4()))
            .send()
            .await
            .expect("send"),
        "realm",
    )
    .await;
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(get(probe).send().await.expect("probe").status(), 200);
    }
    let ok = get(QUERY).bearer_auth(&k.alice).send().await.expect("send");
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.expect("csv").lines().count() > 1);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_read_and_cancelled_only_with_the_key_that_made_it() {
    let k = keys();
    let sys = start(keyed(&k), 1, &sample_readings()).await;
    let submit = |key: &str| {
        sys.client
            .get(sys.url("/api/query?start=2019-04-16&end=2019-04-17"))
            .header("Prefer", "respond-async")
            .bearer_auth(key)
            .send()
    };
    let r = submit(&k.alice).await.expect("submit");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let unknown = sys
        .client
        .get(sys.url(&format!("/results/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&k.bob)
        .send()
        .await
        .expect("unknown");
    assert_eq!(unknown.status(), 404);
    let unknown_body: Value = unknown.json().await.expect("json");
    for path in [format!("/results/{id}"), format!("/api/results/{id}")] {
        let other = sys
            .client
            .get(sys.url(&format!("{path}?wait=2s")))
            .bearer_auth(&k.bob)
            .send()
            .await
            .expect("bob reads");
        assert_eq!(other.status(), 404, "another key sees no such job");
        assert_eq!(
            other.json::<Value>().await.expect("json"),
            unknown_body,
            "the same answer as for an id never issued"
        );
        let cancel = sys
            .client
            .delete(sys.url(&path))
            .bearer_auth(&k.bob)
            .send()
            .await
            .expect("bob cancels");
        assert_eq!(cancel.status(), 404);
    }
    let answer = loop {
        let r = sys
            .client
            .get(sys.url(&format!("/results/{id}?wait=5s")))
            .bearer_auth(&k.alice)
            .send()
            .await
            .expect("alice reads");
        if r.status() != 202 {
            break r;
        }
    };
    assert_eq!(answer.status(), 200, "bob's cancel did nothing");
    assert!(answer.text().await.expect("csv").lines().count() > 1);
    let cancel = sys
        .client
        .delete(sys.url(&format!("/results/{id}")))
        .bearer_auth(&k.alice)
        .send()
        .await
        .expect("alice cancels");
    assert_eq!(cancel.status(), 204);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_one_client_for_the_rate_and_bad_keys_count_against_their_address() {
    let k = keys();
    let options = GatewayOptions {
        fair_use: FairUseLimits {
            requests_per_second: 5,
            limit_loopback: true,
            ..FairUseLimits::default()
        },
        ..keyed(&k)
    };
    let sys = start(options, 0, &sample_readings()).await;
    let send = |key: String| sys.client.get(sys.url(QUERY)).bearer_auth(key).send();
    let mut alice = Vec::new();
    for _ in 0..20 {
        alice.push(send(k.alice.clone()).await.expect("send").status());
    }
    assert!(alice.contains(&reqwest::StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(
        send(k.bob.clone()).await.expect("send").status(),
        200,
        "bob, from the same address, has his own rate"
    );
    let mut bad = Vec::new();
    for _ in 0..20 {
        bad.push(send(new_key()).await.expect("send").status());
    }
    assert!(bad.contains(&reqwest::StatusCode::UNAUTHORIZED));
    assert!(
        bad.contains(&reqwest::StatusCode::TOO_MANY_REQUESTS),
        "guessing keys is rate-limited: {bad:?}"
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_may_have_only_so_many_jobs_pending() {
    let k = keys();
    let options = GatewayOptions {
        fair_use: FairUseLimits {
            max_pending_per_client: 2,
            queued_per_second: 1000,
            limit_loopback: true,
            ..FairUseLimits::default()
        },
        ..keyed(&k)
    };
    // No workers: jobs stay pending.
    let sys = start(options, 0, &sample_readings()).await;
    let submit = |key: &str| {
        sys.client
            .get(sys.url(QUERY))
            .header("Prefer", "respond-async")
            .bearer_auth(key)
            .send()
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = submit(&k.alice).await.expect("submit");
        assert_eq!(r.status(), 202);
        ids.push(
            r.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let third = submit(&k.alice).await.expect("submit");
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: Value = third.json().await.expect("json");
    assert!(
        body["error"].as_str().expect("error").contains("pending"),
        "{body}"
    );
    assert_eq!(
        submit(&k.bob).await.expect("submit").status(),
        202,
        "others are not affected"
    );
    let cancel = sys
        .client
        .delete(sys.url(&format!("/results/{}", ids[0])))
        .bearer_auth(&k.alice)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancel.status(), 204);
    assert_eq!(
        submit(&k.alice).await.expect("submit").status(),
        202,
        "a cancelled job frees its slot"
    );
    sys.stop().await;
}

/// A store that panics on one query: a stand-in for a bug in a handler, which cannot be provoked otherwise.
struct PanickingStore(Arc<dyn ReadingStore>);

#[async_trait::async_trait]
impl ReadingStore for PanickingStore {
    async fn upsert(&self, readings: &[Reading]) -> Result<u64, StoreError> {
        self.0.upsert(readings).await
    }
    fn query(&self, query: &Query, page_size: usize) -> PageStream {
        assert!(query.country.as_deref() != Some("XX"), "injected bug");
        self.0.query(query, page_size)
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.0.count().await
    }
    async fn check(&self) -> Result<(), StoreError> {
        self.0.check().await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.0.stats().await
    }
    async fn data_version(&self) -> Result<u64, StoreError> {
        self.0.data_version().await
    }
    async fn note_ingest(&self, note: &IngestNote) -> Result<(), StoreError> {
        self.0.note_ingest(note).await
    }
    async fn ingest_notes(&self) -> Result<IngestNotes, StoreError> {
        self.0.ingest_notes().await
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_panics_answers_a_json_500_and_the_gateway_lives_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    let urls = BackendUrls::embedded(db.to_str().expect("utf8"));
    let mut backends = Backends::open(&urls, ResultOptions::default())
        .await
        .expect("backends");
    backends
        .store
        .upsert(&sample_readings())
        .await
        .expect("upsert");
    backends.store = Arc::new(PanickingStore(backends.store.clone()));
    let system = SystemBuilder::new(urls)
        .backends(backends)
        .start()
        .await
        .expect("system");
    let client = reqwest::Client::new();
    let base = system.base_url();
    for _ in 0..3 {
        let r = client
            .get(format!("{base}{QUERY}&country=XX"))
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(r.status(), 500);
        assert!(r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json"));
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"], "internal error");
    }
    let fine = client
        .get(format!("{base}{QUERY}&country=DE"))
        .send()
        .await
        .expect("send");
    assert_eq!(fine.status(), 200);
    system.shutdown().await.expect("clean stop");
}

//! Fair use (issue 10, finding 6): one client cannot flood the gateway or the queue. Before, 5,000 requests in
//! 1.5 s and 45,000 queued jobs from one client were all accepted.

use std::time::Duration;

use airq_gateway::fair_use::FairUseLimits;
use airq_gateway::GatewayOptions;
use serde_json::Value;

use crate::support::{sample_readings, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_probes_stay_open() {
    let options = GatewayOptions {
        fair_use: FairUseLimits {
            requests_per_second: 5,
            limit_loopback: true,
            ..FairUseLimits::default()
        },
        ..GatewayOptions::default()
    };
    let sys = start(options, 0, &sample_readings()).await;
    let url = sys.url("/api/query?start=2019-04-16T14:00:00Z&end=2019-04-16T15:00:00Z");
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(sys.client.get(&url).send().await.expect("send"));
    }
    let ok = statuses.iter().filter(|r| r.status() == 200).count();
    assert!(
        (10..=13).contains(&ok),
        "a burst of about twice the rate passes: {ok}"
    );
    let refused = statuses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("refused");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    let body: Value = refused.json().await.expect("json body");
    assert!(body["error"].as_str().expect("error").contains("too many"));
    // The probes are never limited.
    for _ in 0..20 {
        assert_eq!(
            sys.client
                .get(sys.url("/readyz"))
                .send()
                .await
                .expect("probe")
                .status(),
            200
        );
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_bounded() {
    let options = GatewayOptions {
        fair_use: FairUseLimits {
            max_queue_depth: 3,
            ..FairUseLimits::default()
        },
        ..GatewayOptions::default()
    };
    // No workers: queued jobs stay queued.
    let sys = start(options, 0, &sample_readings()).await;
    let submit = || {
        sys.client
            .get(sys.url("/api/query?start=2019-04-16&end=2019-04-17"))
            .header("Prefer", "respond-async")
            .send()
    };
    for _ in 0..3 {
        assert_eq!(submit().await.expect("submit").status(), 202);
    }
    // The depth is read at most once a second: once the reading is fresh, the fourth is refused.
    crate::support::eventually("the queue reported full", || async {
        let r = submit().await.expect("submit");
        if r.status() == 503 {
            assert!(r.headers().contains_key("retry-after"));
            let body: Value = r.json().await.expect("json");
            assert!(body["error"]
                .as_str()
                .expect("error")
                .contains("queue is full"));
            true
        } else {
            assert_eq!(r.status(), 202);
            tokio::time::sleep(Duration::from_millis(300)).await;
            false
        }
    })
    .await;
    sys.stop().await;
}

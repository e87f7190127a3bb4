//! `airq-loadtest slow` and `--prefer-async`, the parts the soak benchmark is made of: the slow clients are cut
//! by a gateway with its timeouts, and reported held by a server without any (so the tool can fail).

use std::time::Duration;

use airq_common::backends::BackendUrls;
use airq_common::shutdown::CancellationToken;
use airq_gateway::routes::RequestLimits;
use airq_gateway::server::ServerLimits;
use airq_gateway::{GatewayOptions, SystemBuilder};
use airq_loadtest::slow::{run, Behaviour, SlowPlan};

fn plan(base: &str, bound: Duration) -> SlowPlan {
    let host = base.trim_start_matches("http://").to_string();
    SlowPlan {
        target: host.parse().expect("addr"),
        host,
        big_path: "/api/query?start=2019-04-16T00:00:00Z&end=2019-04-17T00:00:00Z".into(),
        clients: 4,
        duration: Duration::from_secs(3),
        expect_cut_within: bound,
        api_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_cuts_every_kind_of_slow_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("airq.db");
    let system = SystemBuilder::new(BackendUrls::embedded(db.to_str().expect("utf8")))
        .gateway(GatewayOptions {
            server: ServerLimits {
                header_timeout: Duration::from_secs(1),
                write_timeout: Duration::from_secs(1),
                ..ServerLimits::default()
            },
            request: RequestLimits {
                max_body: 64 * 1024,
                body_timeout: Duration::from_secs(1),
            },
            ..GatewayOptions::default()
        })
        .start()
        .await
        .expect("system");
    let report = run(&plan(&system.base_url(), Duration::from_secs(8)))
        .await
        .expect("run");
    assert_eq!(report.held(), 0, "{}", report.summary());
    for behaviour in [
        Behaviour::StalledReader,
        Behaviour::SlowHeaders,
        Behaviour::SlowBody,
        Behaviour::Idle,
    ] {
        let tally = &report.by_behaviour[&behaviour];
        assert!(tally.cut >= 1, "{}: {}", behaviour.name(), report.summary());
    }
    system.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_timeouts_is_reported_holding_them() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    tokio::spawn(airq_loadtest::ceiling::serve(
        listener,
        bytes::Bytes::from_static(b"x"),
        stop.clone().cancelled_owned(),
    ));
    let report = run(&plan(&base, Duration::from_secs(2)))
        .await
        .expect("run");
    assert!(
        report.by_behaviour[&Behaviour::Idle].held >= 1,
        "{}",
        report.summary()
    );
    stop.cancel();
}

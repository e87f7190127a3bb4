//! Connection discipline against hostile clients (issue 10, finding 1 and 2), over raw sockets: every one of
//! these held a connection (or a direct-answer permit) indefinitely before.

use std::time::Duration;

use airq_common::testing::fixtures::{readings, T0};
use airq_common::time::format_rfc3339;
use airq_gateway::server::ServerLimits;
use airq_gateway::GatewayOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::support::{start, System};

fn strict(limits: ServerLimits) -> GatewayOptions {
    let defaults = GatewayOptions::default();
    GatewayOptions {
        server: limits,
        request: airq_gateway::routes::RequestLimits {
            body_timeout: Duration::from_secs(1),
            ..defaults.request
        },
        ..defaults
    }
}

fn quick() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(1),
        h2_keepalive: Duration::from_secs(1),
        write_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    }
}

async fn connect(sys: &System) -> TcpStream {
    TcpStream::connect(sys.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the server closes the connection; returns what it sent and how long that took. Fails after 15 s.
async fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf)).await {
            Err(_) => panic!("still open after 15 s; received {} bytes", got.len()),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_connections_are_closed() {
    let sys = start(strict(quick()), 0, &[]).await;
    for opening in [
        &b""[..],
        b"GET /api/qu",
        b"PRI * HTTP/2.0\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        let mut s = connect(&sys).await;
        s.write_all(opening).await.expect("write");
        let (_, took) = read_until_closed(&mut s).await;
        assert!(took < Duration::from_secs(10), "{opening:?} held {took:?}");
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_at_a_total_deadline() {
    let sys = start(strict(quick()), 0, &[]).await;
    let mut s = connect(&sys).await;
    s.write_all(b"POST /api/query HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{")
        .await
        .expect("head");
    // One byte every 300 ms: each arrives well within any per-frame timeout, the whole never within 1 s.
    let drip = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if s.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), drip).await;
    let (reply, _) = read_until_closed(&mut s).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"field\":\"body\""), "{reply}");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused_with_json() {
    let limits = ServerLimits {
        max_connections: 3,
        header_timeout: Duration::from_secs(30),
        ..ServerLimits::default()
    };
    let sys = start(strict(limits), 0, &[]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect(&sys).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s); // kept alive
    }
    let mut extra = connect(&sys).await;
    let (reply, _) = read_until_closed(&mut extra).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        reply.contains("application/json") && reply.contains("\"error\""),
        "{reply}"
    );
    drop(held.pop());
    // A freed slot is usable again (the server notices the close).
    crate::support::eventually("a slot frees", || async {
        let r = reqwest::get(sys.url("/healthz")).await;
        r.is_ok_and(|r| r.status() == 200)
    })
    .await;
    drop(held);
    sys.stop().await;
}

/// A client that asks for a large direct answer and never reads it is disconnected after the write timeout,
/// and the direct-answer permit it held is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected() {
    let mut data = readings(60_000, 2);
    for (i, r) in data.iter_mut().enumerate() {
        r.sensor_id = 10_000 + i as u64;
    }
    let options = GatewayOptions {
        direct_limit: 1,
        ..strict(quick())
    };
    let sys = start(options, 1, &data).await;
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small window");
    let mut s = socket
        .connect(
            sys.base
                .trim_start_matches("http://")
                .parse()
                .expect("addr"),
        )
        .await
        .expect("connect");
    let path = format!(
        "/api/query?start={}&end={}",
        format_rfc3339(T0),
        format_rfc3339(T0 + 2 * 3600)
    );
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .expect("request");
    // Read nothing while the timeout passes (time passing is the behaviour under test).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (got, _) = read_until_closed(&mut s).await;
    assert!(got.len() < 4 << 20, "cut short: {} bytes", got.len());
    // The permit is back: a query is answered directly, not queued.
    let r = sys
        .client
        .get(sys.url("/api/query?start=2019-04-16&end=2019-04-17"))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    sys.stop().await;
}

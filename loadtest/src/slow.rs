//! `airq-loadtest slow`: a minority of badly behaved clients to run beside a normal load (the soak benchmark).
//!
//! Each client repeats one behaviour, in turn, for the whole run, over raw TCP (an HTTP library would not
//! misbehave on purpose):
//! - `stalled-reader`: asks for a large answer with a 4 KiB receive buffer and never reads it;
//! - `slow-headers`: sends a request head one byte every two seconds;
//! - `slow-body`: announces a 200-byte body and sends one byte a second;
//! - `idle`: connects and sends nothing.
//!
//! A gateway that defends itself closes each such connection within its read or write timeout. The report says,
//! per behaviour, how many connections were made, how many the server cut, and the longest any was held; a
//! connection still open after `--expect-cut-within` is a failure (exit status 1), since it means one slow
//! client can hold a server resource indefinitely.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// What a slow client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Behaviour {
    StalledReader,
    SlowHeaders,
    SlowBody,
    Idle,
}

impl Behaviour {
    const ALL: [Behaviour; 4] = [
        Behaviour::StalledReader,
        Behaviour::SlowHeaders,
        Behaviour::SlowBody,
        Behaviour::Idle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::StalledReader => "stalled-reader",
            Behaviour::SlowHeaders => "slow-headers",
            Behaviour::SlowBody => "slow-body",
            Behaviour::Idle => "idle",
        }
    }
}

/// How the run is shaped.
#[derive(Debug, Clone)]
pub struct SlowPlan {
    pub target: SocketAddr,
    /// The `Host` header and the path of the large answer a stalled reader asks for.
    pub host: String,
    pub big_path: String,
    pub clients: usize,
    pub duration: Duration,
    /// A connection the server has not cut after this long counts as held (a failure).
    pub expect_cut_within: Duration,
    /// Sent as `Authorization: Bearer` when the gateway requires keys.
    pub api_key: Option<String>,
}

/// Per behaviour: connections made, cut by the server in time, held past the bound, longest hold.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub connections: u64,
    pub cut: u64,
    pub held: u64,
    pub refused: u64,
    pub longest: Duration,
}

/// The whole run's tallies.
#[derive(Debug, Clone, Default)]
pub struct SlowReport {
    pub by_behaviour: BTreeMap<Behaviour, Tally>,
}

impl SlowReport {
    pub fn held(&self) -> u64 {
        self.by_behaviour.values().map(|t| t.held).sum()
    }

    pub fn summary(&self) -> String {
        let mut out = String::from(
            "slow clients   connections   cut by server   held past bound   refused   longest hold\n",
        );
        for (b, t) in &self.by_behaviour {
            out.push_str(&format!(
                "{:<14} {:>11}   {:>13}   {:>15}   {:>7}   {:>10.1} s\n",
                b.name(),
                t.connections,
                t.cut,
                t.held,
                t.refused,
                t.longest.as_secs_f64()
            ));
        }
        out
    }
}

/// How one connection ended.
enum End {
    /// The server closed it (or reset it) after this long.
    Cut(Duration),
    /// Still open at the bound: the client gave up.
    Held(Duration),
    /// Could not connect, or the server answered with a refusal at once (503 over the connection limit).
    Refused,
}

/// The plan for a command line: the gateway's address from its URL.
pub fn plan(args: &crate::config::SlowArgs) -> anyhow::Result<SlowPlan> {
    let rest = args
        .url
        .strip_prefix("http://")
        .context("the slow clients speak plain http:// only")?;
    let host = rest.split('/').next().unwrap_or(rest).to_string();
    let target = std::net::ToSocketAddrs::to_socket_addrs(&host)
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    Ok(SlowPlan {
        target,
        host,
        big_path: args.big_path.clone(),
        clients: args.clients,
        duration: args.duration,
        expect_cut_within: args.expect_cut_within,
        api_key: args.api_key.clone(),
    })
}

/// Runs `plan.clients` slow clients until `plan.duration` has passed (each finishes its connection in hand,
/// bounded by `expect_cut_within`).
pub async fn run(plan: &SlowPlan) -> anyhow::Result<SlowReport> {
    let stop_at = Instant::now() + plan.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..plan.clients {
        let plan = plan.clone();
        let behaviour = Behaviour::ALL[i % Behaviour::ALL.len()];
        tasks.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < stop_at {
                tally.connections += 1;
                match one(&plan, behaviour).await {
                    End::Cut(after) => {
                        tally.cut += 1;
                        tally.longest = tally.longest.max(after);
                    }
                    End::Held(after) => {
                        tally.held += 1;
                        tally.longest = tally.longest.max(after);
                    }
                    End::Refused => {
                        tally.refused += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            (behaviour, tally)
        });
    }
    let mut report = SlowReport::default();
    while let Some(joined) = tasks.join_next().await {
        let (behaviour, tally) = joined.context("a slow client task failed")?;
        let total = report.by_behaviour.entry(behaviour).or_default();
        total.connections += tally.connections;
        total.cut += tally.cut;
        total.held += tally.held;
        total.refused += tally.refused;
        total.longest = total.longest.max(tally.longest);
    }
    Ok(report)
}

async fn connect(target: SocketAddr, small_window: bool) -> std::io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if small_window {
        socket.set_recv_buffer_size(4096)?;
    }
    socket.connect(target).await
}

fn auth_line(plan: &SlowPlan) -> String {
    plan.api_key
        .as_ref()
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default()
}

/// One connection of `behaviour`, until the server closes it or the bound passes.
async fn one(plan: &SlowPlan, behaviour: Behaviour) -> End {
    let Ok(mut stream) = connect(plan.target, behaviour == Behaviour::StalledReader).await else {
        return End::Refused;
    };
    let started = Instant::now();
    let bound = plan.expect_cut_within;
    let host = &plan.host;
    let auth = auth_line(plan);
    let sent = match behaviour {
        Behaviour::StalledReader => {
            let head = format!(
                "GET {} HTTP/1.1\r\nHost: {host}\r\n{auth}Accept-Encoding: identity\r\n\r\n",
                plan.big_path
            );
            stream.write_all(head.as_bytes()).await
        }
        Behaviour::SlowHeaders => {
            let head = format!(
                "GET /api/query?start=2019-04-16 HTTP/1.1\r\nHost: {host}\r\n{auth}X-Slow: "
            );
            drip(
                &mut stream,
                head.as_bytes(),
                Duration::from_secs(2),
                started + bound,
            )
            .await
        }
        Behaviour::SlowBody => {
            let head = format!(
                "POST /api/query HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
            );
            match stream.write_all(head.as_bytes()).await {
                Ok(()) => {
                    drip(
                        &mut stream,
                        &[b' '; 200],
                        Duration::from_secs(1),
                        started + bound,
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        Behaviour::Idle => Ok(()),
    };
    if sent.is_err() {
        // The server closed the connection while we were still sending: cut.
        return cut_or_refused(started);
    }
    if behaviour == Behaviour::StalledReader {
        // Never read: wait for the server to give up on us (a reset or close shows as a failed peek/write).
        return wait_for_close_without_reading(&mut stream, started, bound).await;
    }
    wait_for_close(&mut stream, started, bound).await
}

fn cut_or_refused(started: Instant) -> End {
    let after = started.elapsed();
    if after < Duration::from_millis(50) {
        End::Refused
    } else {
        End::Cut(after)
    }
}

/// Writes `bytes` one at a time, `every` apart, until done, the server closes, or `until`.
async fn drip(
    stream: &mut TcpStream,
    bytes: &[u8],
    every: Duration,
    until: Instant,
) -> std::io::Result<()> {
    for b in bytes {
        if Instant::now() >= until {
            return Ok(());
        }
        stream.write_all(&[*b]).await?;
        tokio::time::sleep(every).await;
    }
    Ok(())
}

/// Reads (and discards) until the server closes the connection or the bound passes.
async fn wait_for_close(stream: &mut TcpStream, started: Instant, bound: Duration) -> End {
    let mut buf = [0u8; 4096];
    loop {
        let left = bound.saturating_sub(started.elapsed());
        if left.is_zero() {
            return End::Held(started.elapsed());
        }
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return End::Held(started.elapsed()),
            Ok(Ok(0)) | Ok(Err(_)) => return End::Cut(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Waits, reading nothing, until the server has closed the connection. Without reading, the server's FIN is
/// never seen (it queues behind the answer we do not read), so the close is detected the way Linux reports it:
/// data sent to a socket its application has closed is answered with a reset, after which the socket has an
/// error and writes fail. A two-byte CRLF once a second is the probe (a blank line before a request is allowed
/// by HTTP/1.1, and a server busy writing to us does not act on it).
async fn wait_for_close_without_reading(
    stream: &mut TcpStream,
    started: Instant,
    bound: Duration,
) -> End {
    while started.elapsed() < bound {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if matches!(stream.take_error(), Ok(Some(_)) | Err(_)) {
            return End::Cut(started.elapsed());
        }
        // A write after the server's reset fails: a cheap probe that does not read the answer. The bytes are
        // a harmless second request's first byte; the server never reads them while it is writing to us.
        if stream.write_all(b"\r\n").await.is_err() {
            return End::Cut(started.elapsed());
        }
    }
    End::Held(started.elapsed())
}

//! What the server allows one connection, and what it does when it allows no more.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Time a client has to show its protocol and send its request headers; also how long an idle HTTP/1
    /// keep-alive connection stays open.
    pub header_timeout: Duration,
    /// Time in-flight requests get to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// A client that reads nothing of a response for this long is disconnected.
    pub write_timeout: Duration,
    /// Connections open at once; one more is refused with a 503.
    pub max_connections: usize,
    /// hyper's buffer for a request head (HTTP/1 request line and headers; HTTP/2 header list): above the
    /// gateway's own JSON-answered limits (`routes::head_limits`), so that hyper's bodiless refusals are left
    /// for heads no one could mean.
    pub max_header_bytes: usize,
    /// HTTP/2: ping interval, and how long an unanswered ping keeps the connection.
    pub h2_keepalive: Duration,
    /// HTTP/2: concurrent streams per connection.
    pub h2_max_streams: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(20),
            write_timeout: Duration::from_secs(30),
            max_connections: default_max_connections(),
            max_header_bytes: 64 * 1024,
            h2_keepalive: Duration::from_secs(20),
            h2_max_streams: 64,
        }
    }
}

/// Leaves room under the process's descriptor limit for the store, the queue, logs and refusals.
pub fn default_max_connections() -> usize {
    const WANTED: usize = 4096;
    match rlimit_nofile() {
        Some(limit) => WANTED.min(limit.saturating_sub(128).max(16)),
        None => 1000,
    }
}

#[cfg(target_os = "linux")]
fn rlimit_nofile() -> Option<usize> {
    // /proc/self/limits: "Max open files  1024  1048576  files"
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn rlimit_nofile() -> Option<usize> {
    None
}

/// Answers a connection over the limit with a short `503` and closes it, within a second whatever the client.
pub async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":"too many connections; try again shortly"}"#;
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Backing off after failed accepts: 10 ms doubling to 1 s, one log line per 10 s with the count.
#[derive(Default)]
pub struct AcceptBackoff {
    nap: Duration,
    failures: u64,
    last_log: Option<Instant>,
}

impl AcceptBackoff {
    pub fn reset(&mut self) {
        self.nap = Duration::ZERO;
    }

    /// Records a failure; returns how long to wait before the next accept.
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.failures += 1;
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            tracing::warn!(%error, failures = self.failures, "accept failed; backing off");
            self.last_log = Some(Instant::now());
            self.failures = 0;
        }
        self.nap = (self.nap * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        self.nap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::other("EMFILE");
        let naps: Vec<Duration> = (0..10).map(|_| b.failed(&e)).collect();
        assert_eq!(naps[0], Duration::from_millis(10));
        assert_eq!(naps[1], Duration::from_millis(20));
        assert_eq!(*naps.last().expect("naps"), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.failed(&e), Duration::from_millis(10));
    }

    #[test]
    fn the_connection_limit_stays_under_the_descriptor_limit() {
        let max = default_max_connections();
        assert!(max >= 16);
        if let Some(limit) = rlimit_nofile() {
            assert!(max < limit, "{max} vs {limit}");
        }
    }
}

//! Waiting, with a deadline, until a new connection shows which protocol it speaks.
//!
//! hyper-util's automatic HTTP/1-or-2 detection reads up to the 24-byte HTTP/2 preface with no timeout, so a
//! socket that sends nothing (or part of a preface) would be held forever. Peeking (nothing is consumed) until
//! the bytes either differ from the preface or make all of it, under the header timeout, closes that hole;
//! from there hyper's own timeouts apply.

use std::time::Duration;

use tokio::net::TcpStream;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// True once the client has sent enough to tell HTTP/1 from HTTP/2; false if it did not within `deadline`
/// (or closed).
pub async fn protocol_shown(stream: &TcpStream, deadline: Duration) -> bool {
    let wait = async {
        let mut buf = [0u8; 24];
        loop {
            let n = match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            if buf[..n] != H2_PREFACE[..n] || n == H2_PREFACE.len() {
                return true;
            }
            // A prefix of the preface: wait for more (peek returns at once while the bytes are unchanged).
            if stream.readable().await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    tokio::time::timeout(deadline, wait).await.unwrap_or(false)
}

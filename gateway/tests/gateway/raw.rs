//! A raw HTTP/1.1 client for what reqwest will not send: malformed request lines, bad `Content-Length`s,
//! non-UTF-8 targets, oversized heads. It writes the bytes as given, reads until the server closes (or the
//! reply is complete) and parses the status line, headers and body.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A reply as it came off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    /// Decoded if it was chunked.
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// `METHOD target HTTP/1.1` with `Host`, `Connection: close`, the given headers and, if `body` is given, a
/// matching `Content-Length`.
pub fn request(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: airq.test\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body.unwrap_or_default());
    out
}

/// Sends `bytes` to the server at `base` (`http://host:port`) and returns its reply; panics with what was read
/// when there is no parseable reply (an empty reply is what a panicking handler gives).
pub async fn send(base: &str, bytes: &[u8]) -> Reply {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // A server that refuses a request may answer and close before it has read all of it (that is what a limit
    // is for), so a failed write is no failure here: the reply is what counts.
    let _ = stream.write_all(bytes).await;
    let mut read = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read.extend_from_slice(&chunk[..n]),
            }
            if parse(&read).is_some_and(|(_, complete)| complete) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("a reply within 30 s");
    match parse(&read) {
        Some((reply, _)) => reply,
        None => panic!(
            "no HTTP reply, read {} bytes: {:?}",
            read.len(),
            String::from_utf8_lossy(&read)
        ),
    }
}

/// The reply in `bytes` once its head is complete, and whether its body is complete too.
fn parse(bytes: &[u8]) -> Option<(Reply, bool)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let rest = &bytes[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let (body, complete) = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)
    } else if let Some(length) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        (
            rest[..length.min(rest.len())].to_vec(),
            rest.len() >= length,
        )
    } else {
        (rest.to_vec(), false)
    };
    Some((
        Reply {
            status,
            headers,
            body,
        },
        complete,
    ))
}

/// A chunked body decoded as far as it goes, and whether its last chunk was read.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else {
            return (body, false);
        };
        if size == 0 {
            return (body, true);
        }
        let data = &rest[line_end + 2..];
        if data.len() < size + 2 {
            body.extend_from_slice(&data[..size.min(data.len())]);
            return (body, false);
        }
        body.extend_from_slice(&data[..size]);
        rest = &data[size + 2..];
    }
}

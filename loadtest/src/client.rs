//! One logical request under airq's protocol: POST the query; a `200` is the answer; a `202` is polled at
//! `/results/<id>` (with `?wait=` or by honouring `Retry-After`) until it is done. With an API key, every
//! request of it (the query and each poll) carries `Authorization: Bearer <key>`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use serde::Serialize;
use tokio::time::Instant;

/// How a queued job is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PollMode {
    /// `GET /results/<id>?wait=10s`: the gateway holds the request until the result is ready.
    Wait,
    /// Sleep for the `Retry-After` the gateway sends, then poll.
    RetryAfter,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Connect,
    Timeout,
    /// A `401`: no key, or one the gateway does not know. Apart from the other 4xx, because it says the run
    /// measured the gateway turning requests away, not answering them.
    Unauthorized,
    Http4xx,
    Http5xx,
    /// An answer that is not what airq's protocol promises (a 200 without the CSV header, a 202 without an id).
    Malformed,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Direct,
    Queued,
}

/// What happened to one request; times are from its scheduled start.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub first_answer: Option<Duration>,
    pub result: Result<Duration, ErrorClass>,
    pub path: Option<Path>,
    /// The status of the first answer (200, 202, 4xx, ...), if any.
    pub status: Option<u16>,
    pub bytes: u64,
}

/// An API key for the gateway (`--api-key`, `AIRQ_API_KEY`). Its `Debug` hides it, so a printed configuration
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl FromStr for ApiKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("an API key is printable ASCII without spaces (airq keys are airq_ and 64 hex digits)".into());
        }
        Ok(ApiKey(s.to_string()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<hidden>)")
    }
}

impl ApiKey {
    /// `Authorization: Bearer <key>`, marked sensitive so the HTTP stack does not show it either.
    pub(crate) fn authorization(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .expect("printable ASCII without spaces, checked by from_str, is a valid header value");
        value.set_sensitive(true);
        value
    }
}

/// The headers every request carries: the API key's, if there is one. Set on the HTTP client itself, so no
/// request of the protocol (query, poll, any later one) can go without it.
fn default_headers(api_key: Option<&ApiKey>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(key) = api_key {
        headers.insert(AUTHORIZATION, key.authorization());
    }
    headers
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    poll: PollMode,
    timeout: Duration,
    /// Share of requests sent with `Prefer: respond-async`.
    prefer_async: f64,
    sent: std::sync::atomic::AtomicU64,
}

const CSV_HEADER: &[u8] = b"id,sensor_id,";

fn classify(e: &reqwest::Error) -> ErrorClass {
    if e.is_timeout() {
        ErrorClass::Timeout
    } else if e.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Other
    }
}

fn class_of(status: u16) -> ErrorClass {
    if status == 401 {
        ErrorClass::Unauthorized
    } else if (400..500).contains(&status) {
        ErrorClass::Http4xx
    } else if status >= 500 {
        ErrorClass::Http5xx
    } else {
        ErrorClass::Malformed
    }
}

impl Client {
    pub fn new(
        base: &str,
        poll: PollMode,
        timeout: Duration,
        max_connections: usize,
        gzip: bool,
        api_key: Option<&ApiKey>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .default_headers(default_headers(api_key))
            .gzip(gzip)
            .pool_max_idle_per_host(max_connections)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            poll,
            timeout,
            prefer_async: 0.0,
            sent: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Asks for the queued path (`Prefer: respond-async`) on this share (0..=1) of requests, spread evenly
    /// (request k is asked queued when `floor((k+1)·share) > floor(k·share)`), so a run mixes both paths
    /// whatever the server's direct limit.
    pub fn prefer_async(mut self, share: f64) -> Self {
        self.prefer_async = share.clamp(0.0, 1.0);
        self
    }

    fn next_is_async(&self) -> bool {
        let k = self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as f64;
        ((k + 1.0) * self.prefer_async).floor() > (k * self.prefer_async).floor()
    }

    /// Sends one query scheduled at `scheduled` and follows it to its result.
    pub async fn run(&self, body: &str, scheduled: Instant) -> Outcome {
        let mut out = Outcome {
            first_answer: None,
            result: Err(ErrorClass::Other),
            path: None,
            status: None,
            bytes: 0,
        };
        let mut request = self
            .http
            .post(format!("{}/api/query", self.base))
            .header("content-type", "application/json");
        if self.next_is_async() {
            request = request.header("prefer", "respond-async");
        }
        let response = request.body(body.to_string()).send().await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                out.result = Err(classify(&e));
                return out;
            }
        };
        let status = response.status().as_u16();
        out.status = Some(status);
        match status {
            200 => {
                out.path = Some(Path::Direct);
                out.first_answer = Some(scheduled.elapsed());
                out.result = self
                    .read_csv(response, &mut out.bytes)
                    .await
                    .map(|()| scheduled.elapsed());
            }
            202 => {
                out.path = Some(Path::Queued);
                out.first_answer = Some(scheduled.elapsed());
                let id = match response.json::<serde_json::Value>().await {
                    Ok(v) => v["id"].as_str().map(str::to_string),
                    Err(_) => None,
                };
                out.result = match id {
                    Some(id) => self.poll(&id, scheduled, &mut out.bytes).await,
                    None => Err(ErrorClass::Malformed),
                };
            }
            other => {
                out.first_answer = Some(scheduled.elapsed());
                out.bytes = response.bytes().await.map(|b| b.len() as u64).unwrap_or(0);
                out.result = Err(class_of(other));
            }
        }
        out
    }

    async fn read_csv(
        &self,
        response: reqwest::Response,
        bytes: &mut u64,
    ) -> Result<(), ErrorClass> {
        let body = response.bytes().await.map_err(|e| classify(&e))?;
        *bytes += body.len() as u64;
        if body.starts_with(CSV_HEADER) {
            Ok(())
        } else {
            Err(ErrorClass::Malformed)
        }
    }

    async fn poll(
        &self,
        id: &str,
        scheduled: Instant,
        bytes: &mut u64,
    ) -> Result<Duration, ErrorClass> {
        let deadline = scheduled + self.timeout;
        loop {
            if Instant::now() >= deadline {
                return Err(ErrorClass::Timeout);
            }
            let url = match self.poll {
                PollMode::Wait => format!("{}/results/{id}?wait=10s", self.base),
                PollMode::RetryAfter => format!("{}/results/{id}", self.base),
            };
            let response = self.http.get(url).send().await.map_err(|e| classify(&e))?;
            match response.status().as_u16() {
                200 => {
                    self.read_csv(response, bytes).await?;
                    return Ok(scheduled.elapsed());
                }
                202 => {
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let _ = response.bytes().await;
                    if self.poll == PollMode::RetryAfter {
                        let nap = Duration::from_secs(retry_after.unwrap_or(1))
                            .min(deadline - Instant::now());
                        tokio::time::sleep(nap).await;
                    }
                }
                other => {
                    *bytes += response.bytes().await.map(|b| b.len() as u64).unwrap_or(0);
                    return Err(class_of(other));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_becomes_a_hidden_bearer_header() {
        let key: ApiKey = "airq_0123abcd".parse().expect("a key");
        let headers = default_headers(Some(&key));
        let value = headers.get(AUTHORIZATION).expect("authorization");
        assert_eq!(value.to_str().ok(), Some("Bearer airq_0123abcd"));
        assert!(value.is_sensitive());
        assert!(!format!("{key:?}").contains("0123abcd"));
        assert!(default_headers(None).is_empty());
        for bad in ["", "two words", "line\nbreak", "caf\u{e9}"] {
            assert!(bad.parse::<ApiKey>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_401_is_its_own_class() {
        assert_eq!(class_of(401), ErrorClass::Unauthorized);
        assert_eq!(class_of(403), ErrorClass::Http4xx);
        assert_eq!(class_of(503), ErrorClass::Http5xx);
    }
}

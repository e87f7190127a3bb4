//! Fair use: no one client can take what others need.
//!
//! - Every API request (not the probes) is counted against its client's rate (a GCRA bucket from governor):
//!   over it, `429` with `Retry-After`. A client is its API key's name when the gateway requires keys (so one
//!   key is one client wherever it comes from), otherwise its IP address (an IPv6 client by its /64, since one
//!   host gets a whole /64). Requests that present no valid key count against their address.
//! - Queued jobs have a tighter rate of their own per client, a bound on how many a client may have pending
//!   at once (`429`, see [`crate::outstanding`]), and the request queue a bound in total: past it, new queries
//!   are refused with `503` and `Retry-After` rather than queued without limit.
//! - Loopback clients are trusted by default (`--limit-loopback` limits them too): on a developer's machine the
//!   load generator and the tests are the only clients, and behind a local reverse proxy every client would look
//!   like loopback anyway (run the limits at the proxy then, or turn this on).
//!
//! Per-client state is dropped once a client's bucket is full again (`retain_recent` on every sweep), so memory
//! follows the clients active in the last seconds, not every address ever seen.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

/// The limits, as configured.
#[derive(Debug, Clone, Copy)]
pub struct FairUseLimits {
    /// API requests per second per client (bursts of twice that); 0 turns the limit off.
    pub requests_per_second: u32,
    /// Queued jobs per second per client (bursts of ten times that); 0 turns the limit off.
    pub queued_per_second: u32,
    /// Jobs waiting in the request queue at most, over all clients; 0 turns the bound off.
    pub max_queue_depth: u64,
    /// Queued jobs one client may have pending at once on this gateway; 0 turns the bound off.
    pub max_pending_per_client: usize,
    /// Whether loopback clients are limited too.
    pub limit_loopback: bool,
}

impl Default for FairUseLimits {
    fn default() -> Self {
        FairUseLimits {
            requests_per_second: 50,
            queued_per_second: 5,
            max_queue_depth: 10_000,
            max_pending_per_client: 100,
            limit_loopback: false,
        }
    }
}

/// Who a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    Ip(IpAddr),
    /// An API key, by its name.
    Key(String),
}

impl Client {
    pub fn of(peer: SocketAddr) -> Client {
        let ip = match peer.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        };
        Client::Ip(ip)
    }
}

/// Who is asking: set on every API request by [`crate::auth::admit`], read by the limits and the result routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client: Client,
    /// The name of the API key presented, when the gateway requires keys.
    pub key: Option<String>,
    /// Whether the connection comes from this machine (trusted unless `--limit-loopback`).
    pub loopback: bool,
}

impl Caller {
    /// A caller known by its address only.
    pub fn at(peer: SocketAddr) -> Caller {
        Caller {
            client: Client::of(peer),
            key: None,
            loopback: peer.ip().to_canonical().is_loopback(),
        }
    }

    /// A caller that presented the key named `name`.
    pub fn keyed(peer: SocketAddr, name: &str) -> Caller {
        Caller {
            client: Client::Key(name.to_string()),
            key: Some(name.to_string()),
            loopback: peer.ip().to_canonical().is_loopback(),
        }
    }
}

/// The limiters every handler shares.
#[derive(Clone)]
pub struct FairUse {
    limits: FairUseLimits,
    requests: Option<Arc<DefaultKeyedRateLimiter<Client>>>,
    queued: Option<Arc<DefaultKeyedRateLimiter<Client>>>,
    /// The request queue's depth, read at most once a second.
    depth: Arc<Mutex<Option<(Instant, u64)>>>,
}

/// How long a depth reading is trusted.
const DEPTH_FRESH: Duration = Duration::from_secs(1);

fn limiter(per_second: u32, burst_factor: u32) -> Option<Arc<DefaultKeyedRateLimiter<Client>>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(per_second.saturating_mul(burst_factor)).unwrap_or(rate);
    Some(Arc::new(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    )))
}

/// A refusal: status, message and when to come back.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Duration,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let secs = self.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        response
    }
}

impl FairUse {
    pub fn new(limits: FairUseLimits) -> Self {
        FairUse {
            limits,
            requests: limiter(limits.requests_per_second, 2),
            queued: limiter(limits.queued_per_second, 10),
            depth: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether the per-client limits leave this caller alone.
    pub fn exempt(&self, caller: &Caller) -> bool {
        caller.loopback && !self.limits.limit_loopback
    }

    fn check(
        limiter: &Option<Arc<DefaultKeyedRateLimiter<Client>>>,
        client: &Client,
        what: &str,
    ) -> Result<(), Refused> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(client).map_err(|not_until| Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("too many {what} from this client; slow down"),
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }

    /// Counts an API request.
    pub fn request(&self, caller: &Caller) -> Result<(), Refused> {
        if self.exempt(caller) {
            return Ok(());
        }
        Self::check(&self.requests, &caller.client, "requests")
    }

    /// Counts a job about to be queued, and checks the queue's bound (whoever the client).
    pub async fn queue(
        &self,
        caller: &Caller,
        queue: &dyn airq_common::queue::JobQueue,
    ) -> Result<(), Refused> {
        if !self.exempt(caller) {
            Self::check(&self.queued, &caller.client, "queued queries")?;
        }
        if self.limits.max_queue_depth == 0 {
            return Ok(());
        }
        let cached = *self.depth.lock().unwrap_or_else(|p| p.into_inner());
        let depth = match cached {
            Some((at, depth)) if at.elapsed() < DEPTH_FRESH => depth,
            _ => {
                // A failed reading does not refuse anyone: the send that follows reports a broken queue.
                let depth = queue.depth().await.map(|d| d.visible).unwrap_or(0);
                *self.depth.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), depth));
                depth
            }
        };
        if depth >= self.limits.max_queue_depth {
            return Err(Refused {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("the queue is full ({depth} queries waiting); try again shortly"),
                retry_after: Duration::from_secs(5),
            });
        }
        Ok(())
    }

    /// Forgets clients whose buckets are full again (called by the sweeper).
    pub fn forget_idle(&self) {
        for limiter in [&self.requests, &self.queued].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_their_64_and_mapped_v4_is_v4() {
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:5".parse().expect("addr");
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:6".parse().expect("addr");
        assert_eq!(Client::of(a), Client::of(b));
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:1".parse().expect("addr");
        assert_eq!(
            Client::of(mapped),
            Client::Ip("192.0.2.7".parse().expect("ip"))
        );
    }

    #[test]
    fn a_burst_over_the_rate_is_refused_with_a_retry_time() {
        let fair = FairUse::new(FairUseLimits {
            requests_per_second: 5,
            ..FairUseLimits::default()
        });
        let at = |addr: &str| Caller::at(addr.parse().expect("addr"));
        let client = at("192.0.2.1:1000");
        let ok = (0..30).filter(|_| fair.request(&client).is_ok()).count();
        assert_eq!(ok, 10, "a burst of twice the rate");
        let refused = fair
            .request(&at("192.0.2.1:2000"))
            .expect_err("over the rate");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1)
        );
        assert!(
            fair.request(&at("192.0.2.2:1000")).is_ok(),
            "clients are counted apart"
        );
        let keyed = Caller::keyed("192.0.2.1:1000".parse().expect("addr"), "alice");
        assert!(
            fair.request(&keyed).is_ok(),
            "a key is its own client, wherever it comes from"
        );
        for loopback in ["127.0.0.1:5", "[::1]:5", "[::ffff:127.0.0.1]:5"] {
            assert!(
                (0..100).all(|_| fair.request(&at(loopback)).is_ok()),
                "loopback ({loopback}) is trusted by default"
            );
        }
    }
}

//! Fetching a feed over HTTP(S): rustls, gzip, timeouts, and conditional GET so that an unchanged feed is not
//! downloaded and parsed again on every tick of `--every`.

use std::time::Duration;

use reqwest::header::{HeaderMap, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;

use crate::error::{chain, IngestError};

/// The ETag and Last-Modified of the previous complete fetch of a URL, sent back as If-None-Match and
/// If-Modified-Since. Kept in memory only: a restarted master fetches once more, which is harmless because
/// ingest is idempotent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    fn from_headers(headers: &HeaderMap) -> Validators {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        Validators {
            etag: get(ETAG),
            last_modified: get(LAST_MODIFIED),
        }
    }
}

/// What a GET gave.
pub enum Fetched {
    /// A 2xx answer whose body is still to be read, and its validators (to keep once the body was read whole).
    Body(reqwest::Response, Validators),
    /// 304: unchanged since the validators were taken.
    NotModified,
}

/// The client for feed fetches. `timeout` bounds the whole fetch, body included, so a server that stalls
/// mid-body cannot hold a run (or a scheduled tick) forever; the connect timeout is shorter so that an
/// unreachable host fails fast.
pub fn client(timeout: Duration) -> Result<reqwest::Client, IngestError> {
    reqwest::Client::builder()
        .user_agent(concat!(
            "airq-master/",
            env!("CARGO_PKG_VERSION"),
            " (airq air-quality ingest)"
        ))
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .gzip(true)
        .build()
        .map_err(|e| IngestError::HttpClient(chain(&e)))
}

/// GETs `url`, sending the validators of the previous complete fetch.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    previous: &Validators,
) -> Result<Fetched, IngestError> {
    let mut request = client.get(url);
    if let Some(etag) = &previous.etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    if let Some(modified) = &previous.last_modified {
        request = request.header(IF_MODIFIED_SINCE, modified);
    }
    let response = request.send().await.map_err(|e| IngestError::Http {
        url: url.to_string(),
        message: chain(&e.without_url()),
    })?;
    match response.status() {
        StatusCode::NOT_MODIFIED => {
            tracing::info!(
                url,
                "feed not modified since the previous run (HTTP 304); skipped"
            );
            Ok(Fetched::NotModified)
        }
        status if status.is_success() => {
            let validators = Validators::from_headers(response.headers());
            Ok(Fetched::Body(response, validators))
        }
        status => Err(IngestError::HttpStatus {
            url: url.to_string(),
            status,
        }),
    }
}

//! Fetching a feed over HTTP(S): rustls, gzip, timeouts, and conditional GET so an unchanged feed is skipped.

use std::time::Duration;

use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;

use crate::IngestError;

/// Validators from the previous successful fetch of a URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

pub enum Fetched {
    Body(reqwest::Response, Validators),
    NotModified,
}

pub fn client(timeout: Duration) -> Result<reqwest::Client, IngestError> {
    reqwest::Client::builder()
        .user_agent(concat!(
            "airq-master/",
            env!("CARGO_PKG_VERSION"),
            " (+https://sensor.community)"
        ))
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| IngestError::Http {
            url: String::new(),
            message: e.to_string(),
        })
}

/// GETs `url`, sending the validators of the previous fetch.
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
        message: e.to_string(),
    })?;
    match response.status() {
        StatusCode::NOT_MODIFIED => Ok(Fetched::NotModified),
        status if status.is_success() => {
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                    .map(str::to_string)
            };
            let validators = Validators {
                etag: header(ETAG),
                last_modified: header(LAST_MODIFIED),
            };
            Ok(Fetched::Body(response, validators))
        }
        status => Err(IngestError::Http {
            url: url.to_string(),
            message: format!("answered {status}"),
        }),
    }
}

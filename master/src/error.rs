//! Why an ingest run failed. A damaged source is not an error: its good readings are written and the damage is
//! reported in the run's summary. These are the failures that stop a run (or the whole command) outright.

use std::error::Error as StdError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A file or folder could not be opened or listed.
    #[error("could not read {source_name}: {error}")]
    Source {
        source_name: String,
        #[source]
        error: std::io::Error,
    },
    /// The HTTP request failed before an answer (DNS, connect, TLS, timeout).
    #[error("fetching {url}: {message}")]
    Http { url: String, message: String },
    /// The server answered, but not with 2xx or 304.
    #[error("fetching {url}: the server answered {status}")]
    HttpStatus {
        url: String,
        status: reqwest::StatusCode,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("building the HTTP client: {0}")]
    HttpClient(String),
    #[error(transparent)]
    Store(#[from] airq_common::StoreError),
    /// The parsing thread panicked or was cancelled.
    #[error("ingest task failed: {0}")]
    Task(String),
}

/// An error and its causes on one line (`a: b: c`). reqwest's own message is often just "error sending request";
/// the cause that helps (connection refused, timed out, certificate) is further down the chain.
pub fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_names_every_cause() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(chain(&e), "outer: connection refused");
    }
}

//! The messages between gateways and workers: a queued query ([`Job`]), the worker's notices to the asking
//! gateway ([`Notice`]), and why a job failed ([`FailReason`]).
//!
//! The protocol is one-way and small. Answers never travel through a queue: the worker streams them into the
//! shared [`ResultStore`](crate::results::ResultStore), which every gateway reads, and the notice on the asking
//! gateway's reply queue only wakes clients waiting there (`?wait=`). So a reply queue never holds the only copy
//! of anything, and a lost notice costs a poll interval, never an answer. The protocol says *what* went wrong,
//! never an HTTP status: the gateway maps reasons to statuses in one place.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::answer::Ask;
use crate::query::Query;

/// A query queued by a gateway for a worker. `query` is valid by construction: deserializing a job validates it
/// (see [`Query`]), so a worker never answers a query the gateway would have refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub id: Uuid,
    pub query: Query,
    /// The question and format (absent in a job from an older gateway: readings as CSV).
    #[serde(default)]
    pub ask: Ask,
    /// The asking gateway's own reply queue, for [`Notice`]s.
    pub reply_to: String,
    /// When the gateway accepted the query, in milliseconds since the epoch.
    pub submitted_at: i64,
}

/// What a worker tells the asking gateway. Advisory: the result store is the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Notice {
    /// A worker has started the job.
    Running { id: Uuid },
    /// The job has reached its final state (answered or failed) in the result store.
    Finished { id: Uuid },
}

impl Notice {
    pub fn id(&self) -> Uuid {
        match self {
            Notice::Running { id } | Notice::Finished { id } => *id,
        }
    }
}

/// Why a job has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The query can never be answered as asked.
    InvalidQuery,
    /// The answer is larger than the result store accepts for one answer.
    TooLarge,
    /// No worker finished the job before its deadline.
    Timeout,
    /// A failure on the service's side that retries did not cure.
    Internal,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::InvalidQuery => "invalid_query",
            FailReason::TooLarge => "too_large",
            FailReason::Timeout => "timeout",
            FailReason::Internal => "internal",
        }
    }

    pub fn parse(text: &str) -> Option<FailReason> {
        [
            FailReason::InvalidQuery,
            FailReason::TooLarge,
            FailReason::Timeout,
            FailReason::Internal,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

/// Milliseconds since the epoch, the clock every process of a deployment agrees on (result deadlines, expiry).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_strangers_are_refused() {
        let id = Uuid::new_v4();
        for notice in [Notice::Running { id }, Notice::Finished { id }] {
            let text = serde_json::to_string(&notice).expect("json");
            assert_eq!(serde_json::from_str::<Notice>(&text).expect("back"), notice);
        }
        assert!(serde_json::from_str::<Notice>(r#"{"kind":"data","id":"x"}"#).is_err());
    }

    #[test]
    fn a_job_with_an_invalid_query_does_not_deserialize() {
        let id = Uuid::new_v4();
        let bad = format!(
            r#"{{"id":"{id}","reply_to":"r","submitted_at":1,
                "query":{{"start":10,"end":5,"country":null,"band":null,"min_aqi":0,"max_aqi":10}}}}"#
        );
        assert!(serde_json::from_str::<Job>(&bad).is_err());
        let lower = bad.replace(r#""start":10,"end":5"#, r#""start":5,"end":10"#);
        assert!(serde_json::from_str::<Job>(&lower).is_ok());
        let country = lower.replace(r#""country":null"#, r#""country":"DEU""#);
        assert!(serde_json::from_str::<Job>(&country).is_err());
    }

    #[test]
    fn reasons_have_stable_names() {
        for r in [
            FailReason::InvalidQuery,
            FailReason::TooLarge,
            FailReason::Timeout,
            FailReason::Internal,
        ] {
            assert_eq!(FailReason::parse(r.as_str()), Some(r));
        }
    }
}

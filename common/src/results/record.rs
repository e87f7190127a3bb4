//! A job's record as every backend stores it, and what it means at a given moment: the one place where
//! deadlines and expiry are interpreted, so that both backends (and every gateway) agree.

use uuid::Uuid;

use super::{Answer, Failure, GoneReason, JobStatus, ResultError};
use crate::protocol::FailReason;

pub const TIMEOUT_MESSAGE: &str = "no worker answered before the job's deadline";

/// A job's record as read.
pub struct Record {
    pub state: String,
    pub deadline_ms: i64,
    pub ttl_ms: i64,
    pub expires_ms: Option<i64>,
    pub forget_ms: Option<i64>,
    pub attempt: Option<String>,
    pub parts: Option<i64>,
    pub csv_bytes: Option<i64>,
    pub stored_bytes: i64,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub field: Option<String>,
    pub gone_reason: Option<String>,
    /// A small answer kept in the record itself (AWS backend).
    pub inline: Option<bytes::Bytes>,
    /// The answer's format name, `None` for CSV (and records made before formats).
    pub format: Option<String>,
}

/// What a record means at `now`: deadlines and expiry apply whether or not a sweep has run.
pub fn status_at(row: Option<Record>, now: i64) -> Result<JobStatus, ResultError> {
    let Some(row) = row else {
        return Ok(JobStatus::Unknown);
    };
    let expired = |at: Option<i64>| at.is_some_and(|t| t <= now);
    let pending = matches!(row.state.as_str(), "queued" | "running");
    if pending && row.deadline_ms <= now {
        if row.deadline_ms + row.ttl_ms <= now {
            return Ok(JobStatus::Gone(GoneReason::Expired));
        }
        return Ok(JobStatus::Failed(timeout()));
    }
    if matches!(row.state.as_str(), "done" | "failed") && expired(row.expires_ms) {
        return Ok(JobStatus::Gone(GoneReason::Expired));
    }
    Ok(match row.state.as_str() {
        "queued" => JobStatus::Queued,
        "running" => JobStatus::Running,
        "done" => {
            let corrupt = || ResultError::Corrupt("a done result without its answer".into());
            let attempt = row.attempt.as_deref().ok_or_else(corrupt)?;
            JobStatus::Done(Answer {
                attempt: Uuid::parse_str(attempt)
                    .map_err(|e| ResultError::Corrupt(e.to_string()))?,
                parts: u32::try_from(row.parts.ok_or_else(corrupt)?).map_err(|_| corrupt())?,
                csv_bytes: u64::try_from(row.csv_bytes.ok_or_else(corrupt)?)
                    .map_err(|_| corrupt())?,
                stored_bytes: u64::try_from(row.stored_bytes).map_err(|_| corrupt())?,
                inline: row.inline,
                format: row
                    .format
                    .as_deref()
                    .and_then(crate::answer::Format::parse)
                    .unwrap_or_default(),
            })
        }
        "failed" => JobStatus::Failed(Failure {
            reason: row
                .reason
                .as_deref()
                .and_then(FailReason::parse)
                .unwrap_or(FailReason::Internal),
            message: row.message.unwrap_or_default(),
            field: row.field,
        }),
        "gone" if expired(row.forget_ms) => JobStatus::Unknown,
        "gone" => JobStatus::Gone(GoneReason::parse(row.gone_reason.as_deref().unwrap_or(""))),
        other => return Err(ResultError::Corrupt(format!("unknown state {other:?}"))),
    })
}

fn timeout() -> Failure {
    Failure {
        reason: FailReason::Timeout,
        message: TIMEOUT_MESSAGE.into(),
        field: None,
    }
}

//! The one classification of AWS SDK errors for every airq backend (DynamoDB, SQS, S3): the service's error
//! code, a one-line message with its cause chain, and whether trying again may succeed. Each backend wraps this
//! in its own typed error.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Error codes, across services, that mean "slow down or try again".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestThrottled",
    "RequestLimitExceeded",
    "SlowDown",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "KmsThrottled",
];

/// A classified SDK error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkFailure {
    /// The service's error code (`ResourceNotFoundException`, `NoSuchKey`, ...), when it sent one.
    pub code: Option<String>,
    /// One line: the error and its causes.
    pub message: String,
    /// Throttling, a 5xx, a timeout or a broken connection: trying again may succeed.
    pub transient: bool,
}

/// Classifies any SDK operation's error.
pub fn classify<E, R>(err: &SdkError<E, R>) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let transient = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => code
            .as_deref()
            .is_some_and(|c| TRANSIENT_CODES.contains(&c)),
        _ => false,
    };
    // A service's own error is its code and message; only transport failures need their cause chain.
    let message = match (err, &code, err.message()) {
        (SdkError::ServiceError(_), Some(code), Some(message)) => format!("{code}: {message}"),
        (SdkError::ServiceError(_), Some(code), None) => code.clone(),
        _ => DisplayErrorContext(err).to_string(),
    };
    SdkFailure {
        code,
        message,
        transient,
    }
}

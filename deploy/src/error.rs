//! Deploy errors. AWS failures are sorted into the three an operator acts on differently (a missing
//! permission, an unusable AMI, a quota) and every message names the resource and the permission or limit, so
//! the fix is clear without reading a stack trace. Everything `up` does is idempotent, so after fixing the cause
//! the operator runs the same command again and it carries on where it stopped.

use aws_smithy_error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The SDK's shared error types (every service crate re-exports the same ones).
mod aws_smithy_error {
    pub use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "{operation} on {resource} was refused: the AWS identity lacks the permission {permission} ({code}: \
         {message}). Grant it (`airq-deploy iam-policy --operator` prints everything the operator needs) and \
         run the command again"
    )]
    PermissionDenied {
        operation: &'static str,
        resource: String,
        permission: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource}: AWS did not accept the credentials ({code}: {message}). Check the profile, \
         keys or SSO session in use (`aws sts get-caller-identity` shows who you are) and the clock"
    )]
    Credentials {
        operation: &'static str,
        resource: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource}: the AMI {ami} cannot be used ({code}: {message}). Pass an existing x86_64 \
         AMI of this region with --ami, or leave --ami out to use the latest Amazon Linux 2023"
    )]
    BadAmi {
        operation: &'static str,
        resource: String,
        ami: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource}: an AWS limit was reached ({code}: {message}). Ask for a higher quota in \
         the Service Quotas console, or ask for fewer or smaller resources; then run the command again"
    )]
    Quota {
        operation: &'static str,
        resource: String,
        code: String,
        message: String,
    },
    #[error("{operation} on {resource} failed: {message}")]
    Aws {
        operation: &'static str,
        resource: String,
        code: Option<String>,
        message: String,
    },
    #[error("{resource}: {message}")]
    Unexpected { resource: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("waited {waited:?} for {what}; it may still finish: run `airq-deploy status` to see")]
    Timeout {
        what: String,
        waited: std::time::Duration,
    },
    #[error("store: {0}")]
    Store(#[from] airq_common::StoreError),
    #[error("queue: {0}")]
    Queue(#[from] airq_common::queue::QueueError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Error codes that mean "the identity may not do this".
const PERMISSION_CODES: &[&str] = &[
    "UnauthorizedOperation",
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
];

/// Error codes that mean "these credentials are not valid" (unknown key, bad signature, expired token).
const CREDENTIAL_CODES: &[&str] = &[
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
];

/// Error codes that mean "this AMI does not exist or may not be used here".
const AMI_CODES: &[&str] = &[
    "InvalidAMIID.NotFound",
    "InvalidAMIID.Malformed",
    "InvalidAMIID.Unavailable",
    "InvalidAMIID.Unknown",
];

/// Error codes that mean "an account limit was reached".
const QUOTA_CODES: &[&str] = &[
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "InsufficientInstanceCapacity",
    "ResourceLimitExceeded",
    "SecurityGroupLimitExceeded",
    "RulesPerSecurityGroupLimitExceeded",
    "LaunchTemplateLimitExceeded",
    "LimitExceededException",
    "LimitExceeded",
    "TooManyBuckets",
    "OverLimit",
];

/// What a failed AWS call was doing: the operation, the resource it was on, and the IAM permission it needs.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: &'static str,
    pub permission: &'static str,
    pub resource: String,
}

impl Call {
    pub fn new(
        operation: &'static str,
        permission: &'static str,
        resource: impl Into<String>,
    ) -> Self {
        Call {
            operation,
            permission,
            resource: resource.into(),
        }
    }
}

/// The usual mapping of a failed call: `.map_err(fail("DescribeVpcs", "ec2:DescribeVpcs", "the default VPC"))`.
pub fn fail<E, R>(
    operation: &'static str,
    permission: &'static str,
    resource: impl Into<String>,
) -> impl FnOnce(SdkError<E, R>) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let call = Call::new(operation, permission, resource);
    move |e| classify(call, None, e)
}

/// Sorts an SDK error into a [`DeployError`]. `ami` names the AMI when the call used one.
pub fn classify<E, R>(call: Call, ami: Option<&str>, err: SdkError<E, R>) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    classify_code(call, ami, code, message)
}

/// The sorting itself, on the error's code and message (separate so it can be tested without the SDK).
pub fn classify_code(
    call: Call,
    ami: Option<&str>,
    code: Option<String>,
    message: String,
) -> DeployError {
    let Call {
        operation,
        permission,
        resource,
    } = call;
    match code.as_deref() {
        Some(c) if PERMISSION_CODES.contains(&c) => DeployError::PermissionDenied {
            operation,
            resource,
            // A launch with an instance profile also needs iam:PassRole; AWS names it in the message.
            permission: if message.contains("iam:PassRole") {
                "iam:PassRole".to_string()
            } else {
                permission.to_string()
            },
            code: c.to_string(),
            message,
        },
        Some(c) if CREDENTIAL_CODES.contains(&c) => DeployError::Credentials {
            operation,
            resource,
            code: c.to_string(),
            message,
        },
        Some(c) if AMI_CODES.contains(&c) => DeployError::BadAmi {
            operation,
            resource,
            ami: ami.unwrap_or("(from the launch template)").to_string(),
            code: c.to_string(),
            message,
        },
        Some(c) if QUOTA_CODES.contains(&c) => DeployError::Quota {
            operation,
            resource,
            code: c.to_string(),
            message,
        },
        _ => DeployError::Aws {
            operation,
            resource,
            message: match &code {
                Some(c) => format!("{c}: {message}"),
                None => message,
            },
            code,
        },
    }
}

impl DeployError {
    /// The AWS error code behind this error, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            DeployError::PermissionDenied { code, .. }
            | DeployError::Credentials { code, .. }
            | DeployError::BadAmi { code, .. }
            | DeployError::Quota { code, .. } => Some(code),
            DeployError::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call::new(
            "RunInstances",
            "ec2:RunInstances",
            "worker instances of stack prod",
        )
    }

    #[test]
    fn permission_errors_name_the_permission_and_resource() {
        let e = classify_code(
            call(),
            None,
            Some("UnauthorizedOperation".into()),
            "You are not authorized".into(),
        );
        let text = e.to_string();
        assert!(matches!(e, DeployError::PermissionDenied { .. }));
        assert!(text.contains("ec2:RunInstances"), "{text}");
        assert!(text.contains("worker instances of stack prod"), "{text}");
        let e = classify_code(
            call(),
            None,
            Some("UnauthorizedOperation".into()),
            "not authorized to perform: iam:PassRole on resource role/x".into(),
        );
        assert!(
            e.to_string().contains("lacks the permission iam:PassRole"),
            "{e}"
        );
    }

    #[test]
    fn credential_errors_are_not_called_missing_permissions() {
        let e = classify_code(
            call(),
            None,
            Some("AuthFailure".into()),
            "not able to validate".into(),
        );
        assert!(matches!(e, DeployError::Credentials { .. }), "{e:?}");
        assert!(
            e.to_string().contains("did not accept the credentials"),
            "{e}"
        );
    }

    #[test]
    fn ami_errors_name_the_ami() {
        let e = classify_code(
            call(),
            Some("ami-12345678"),
            Some("InvalidAMIID.NotFound".into()),
            "gone".into(),
        );
        assert!(matches!(e, DeployError::BadAmi { .. }));
        assert!(e.to_string().contains("ami-12345678"), "{e}");
    }

    #[test]
    fn quota_errors_say_which_limit() {
        let e = classify_code(
            call(),
            None,
            Some("VcpuLimitExceeded".into()),
            "You have requested more vCPU".into(),
        );
        assert!(matches!(e, DeployError::Quota { .. }));
        let text = e.to_string();
        assert!(
            text.contains("VcpuLimitExceeded") && text.contains("Service Quotas"),
            "{text}"
        );
    }

    #[test]
    fn other_errors_keep_their_code() {
        let e = classify_code(
            call(),
            None,
            Some("InvalidParameterValue".into()),
            "bad".into(),
        );
        assert_eq!(e.code(), Some("InvalidParameterValue"));
        assert!(
            e.to_string()
                .contains("RunInstances on worker instances of stack prod failed"),
            "{e}"
        );
    }
}

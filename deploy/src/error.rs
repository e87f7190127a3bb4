//! Deploy errors. AWS failures are sorted into the three an operator acts on differently (a missing
//! permission, an unusable AMI, a quota) and every message names the resource and the permission or limit, so
//! the fix is clear without reading a stack trace. Everything `up` does is idempotent, so after fixing the cause
//! the operator runs the same command again and it carries on where it stopped.
//!
//! What an SDK error *is* (its code, its one-line message, whether trying again may help) is decided once for
//! all of airq, by `airq_common::aws::error::classify`; this module only adds what an operator needs on top:
//! which permission, AMI or quota is involved, and what to do about it.

use airq_common::aws::error::SdkFailure;
use aws_smithy_error::{ProvideErrorMetadata, SdkError};

/// The SDK's shared error types (every service crate re-exports the same ones).
mod aws_smithy_error {
    pub use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "{operation} on {resource} was refused: the AWS identity lacks the permission {permission} ({message}). \
         Grant it (`airq-deploy iam-policy --operator` prints everything the operator needs) and \
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
        "{operation} on {resource}: AWS did not accept the credentials ({message}). Check the profile, \
         keys or SSO session in use (`aws sts get-caller-identity` shows who you are) and the clock"
    )]
    Credentials {
        operation: &'static str,
        resource: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource}: the AMI {ami} cannot be used ({message}). Pass an existing x86_64 \
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
        "{operation} on {resource}: an AWS limit was reached ({message}). Ask for a higher quota in \
         the Service Quotas console, or ask for fewer or smaller resources; then run the command again"
    )]
    Quota {
        operation: &'static str,
        resource: String,
        code: String,
        message: String,
    },
    #[error(
        "{operation} on {resource} failed: {message}{}",
        if *.transient { " (a passing AWS fault that outlasted the retries: run the command again)" } else { "" }
    )]
    Aws {
        operation: &'static str,
        resource: String,
        code: Option<String>,
        /// The error in one line, its code first when AWS sent one.
        message: String,
        /// Throttling, a 5xx, a timeout or a broken connection: the same call may succeed later.
        transient: bool,
    },
    /// Nothing on this machine says which AWS account or region to use (checked before the first call).
    #[error("{}", no_aws_setup(*.region, *.credentials))]
    NoAwsSetup {
        /// Whether a region was found.
        region: bool,
        /// Whether credentials were found.
        credentials: bool,
    },
    /// The credential chain found a source but could not use it (a broken profile, an expired SSO session).
    #[error("the AWS credentials could not be loaded: {source}")]
    CredentialChain {
        #[source]
        source: aws_credential_types::provider::error::CredentialsError,
    },
    #[error("{resource}: {message}")]
    Unexpected { resource: String, message: String },
    #[error("{0}")]
    Invalid(String),
    /// `plan`/`up` without `--api-keys` or `--no-api-keys`: gateways are never left open by an omission.
    #[error(
        "the gateways need API keys: make a keys file with `airq-gateway new-api-key NAME >> FILE` (one line per \
         client; the key itself is printed once, on stderr) and pass --api-keys FILE, or pass --no-api-keys to \
         leave them open to anyone --allow-cidr lets in"
    )]
    NoApiKeys,
    #[error("--api-keys {path}: {source}")]
    ApiKeys {
        path: String,
        #[source]
        source: crate::api_keys::KeysFileError,
    },
    /// A local `--artifact` that is not a package made by `scripts/package`.
    #[error("--artifact {artifact}: {source}")]
    Artifact {
        artifact: String,
        #[source]
        source: crate::package::PackageError,
    },
    #[error("waited {waited:?} for {what}; it may still finish: run `airq-deploy status` to see")]
    Timeout {
        what: String,
        waited: std::time::Duration,
    },
    #[error("store: {0}")]
    Store(#[from] airq_common::StoreError),
    #[error("queue: {0}")]
    Queue(#[from] airq_common::queue::QueueError),
    #[error("result store: {0}")]
    Results(#[from] airq_common::results::ResultError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// The one sentence for a machine without an AWS set-up: what is missing and how to set it.
fn no_aws_setup(region: bool, credentials: bool) -> String {
    const CREDENTIALS: &str =
        "set AWS_PROFILE to a profile made with `aws configure` (or run `aws sso login`, \
                               or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";
    const REGION: &str = "set AWS_REGION (or a region in your AWS profile) or pass --region";
    match (region, credentials) {
        (false, false) => {
            format!("no AWS credentials and no AWS region found: {CREDENTIALS}, and {REGION}")
        }
        (true, false) => format!("no AWS credentials found: {CREDENTIALS}"),
        _ => format!("no AWS region found: {REGION}"),
    }
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
    sort(call, ami, airq_common::aws::error::classify(&err))
}

/// Sorts an error that an `airq_common` backend already classified and turned into its own error type (the
/// readings table's and the result store's definitions create tables for `up`). Those types keep the
/// classification's one-line message and transience but not the code, so the code is read back from the
/// message, which starts with it (`AccessDeniedException: …`) for every error AWS itself answered.
pub fn from_common(call: Call, message: String, transient: bool) -> DeployError {
    let code = message
        .split_once(": ")
        .map(|(head, _)| head)
        .filter(|head| {
            !head.is_empty() && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        })
        .map(str::to_string);
    sort(
        call,
        None,
        SdkFailure {
            code,
            message,
            transient,
        },
    )
}

/// The sorting itself, on a classified failure (separate so it can be tested without the SDK).
pub fn sort(call: Call, ami: Option<&str>, failure: SdkFailure) -> DeployError {
    let Call {
        operation,
        permission,
        resource,
    } = call;
    let SdkFailure {
        code,
        message,
        transient,
    } = failure;
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
            code,
            message,
            transient,
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

    /// Whether the same command may succeed later without any change (throttling, a 5xx, a timeout).
    pub fn is_transient(&self) -> bool {
        match self {
            DeployError::Aws { transient, .. } => *transient,
            DeployError::Store(e) => e.is_transient(),
            DeployError::Queue(e) => e.is_transient(),
            DeployError::Results(e) => e.is_transient(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service error as `airq_common`'s classification reports it.
    fn failure(code: &str, text: &str) -> SdkFailure {
        SdkFailure {
            code: Some(code.into()),
            message: format!("{code}: {text}"),
            transient: false,
        }
    }

    fn call() -> Call {
        Call::new(
            "RunInstances",
            "ec2:RunInstances",
            "worker instances of stack prod",
        )
    }

    #[test]
    fn permission_errors_name_the_permission_and_resource() {
        let e = sort(
            call(),
            None,
            failure("UnauthorizedOperation", "You are not authorized"),
        );
        let text = e.to_string();
        assert!(matches!(e, DeployError::PermissionDenied { .. }));
        assert!(text.contains("ec2:RunInstances"), "{text}");
        assert!(text.contains("worker instances of stack prod"), "{text}");
        let e = sort(
            call(),
            None,
            failure(
                "UnauthorizedOperation",
                "not authorized to perform: iam:PassRole on resource role/x",
            ),
        );
        assert!(
            e.to_string().contains("lacks the permission iam:PassRole"),
            "{e}"
        );
    }

    #[test]
    fn credential_errors_are_not_called_missing_permissions() {
        let e = sort(call(), None, failure("AuthFailure", "not able to validate"));
        assert!(matches!(e, DeployError::Credentials { .. }), "{e:?}");
        assert!(
            e.to_string().contains("did not accept the credentials"),
            "{e}"
        );
    }

    #[test]
    fn ami_errors_name_the_ami() {
        let e = sort(
            call(),
            Some("ami-12345678"),
            failure("InvalidAMIID.NotFound", "gone"),
        );
        assert!(matches!(e, DeployError::BadAmi { .. }));
        assert!(e.to_string().contains("ami-12345678"), "{e}");
    }

    #[test]
    fn quota_errors_say_which_limit() {
        let e = sort(
            call(),
            None,
            failure("VcpuLimitExceeded", "You have requested more vCPU"),
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
        let e = sort(call(), None, failure("InvalidParameterValue", "bad"));
        assert_eq!(e.code(), Some("InvalidParameterValue"));
        assert!(
            e.to_string()
                .contains("RunInstances on worker instances of stack prod failed"),
            "{e}"
        );
    }

    #[test]
    fn the_code_and_message_are_airq_commons() {
        // The one classification decides what the error is: a timeout is transient and has no code.
        let timeout: SdkError<aws_sdk_ec2::operation::run_instances::RunInstancesError, ()> =
            SdkError::timeout_error("slow");
        let e = classify(call(), None, timeout);
        assert!(
            matches!(
                e,
                DeployError::Aws {
                    code: None,
                    transient: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.is_transient());
        assert!(e.to_string().contains("run the command again"), "{e}");
        let built: SdkError<aws_sdk_ec2::operation::run_instances::RunInstancesError, ()> =
            SdkError::construction_failure("bad request");
        let e = classify(call(), None, built);
        assert!(!e.is_transient(), "{e:?}");
        assert!(!e.to_string().contains("run the command again"), "{e}");
        // The code is not repeated in the message.
        let e = sort(
            call(),
            None,
            failure("UnauthorizedOperation", "You are not authorized"),
        );
        assert_eq!(
            e.to_string().matches("UnauthorizedOperation").count(),
            1,
            "{e}"
        );
    }

    #[test]
    fn errors_of_common_backends_are_sorted_by_the_code_their_message_starts_with() {
        let e = from_common(
            Call::new(
                "CreateTable",
                "dynamodb:CreateTable",
                "table airq-prod-results",
            ),
            "AccessDeniedException: User is not authorized to perform: dynamodb:CreateTable".into(),
            false,
        );
        assert!(matches!(e, DeployError::PermissionDenied { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("lacks the permission dynamodb:CreateTable"),
            "{e}"
        );
        let e = from_common(
            call(),
            "LimitExceededException: too many tables".into(),
            false,
        );
        assert!(matches!(e, DeployError::Quota { .. }), "{e:?}");
        // A transport failure has no code; its transience is kept.
        let e = from_common(
            call(),
            "dispatch failure: io error: connection refused".into(),
            true,
        );
        assert!(
            matches!(
                e,
                DeployError::Aws {
                    code: None,
                    transient: true,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

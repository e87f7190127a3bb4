//! The commands: each reads what it needs, calls the provider, and writes its report to `out`.
//!
//! This module dispatches a parsed command line to the right provider; `up` (with `plan`), `down`, `scale` (with
//! `autoscale`) and the local provider's commands each have their own file.

use std::future::Future;
use std::io::Write;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::aws::{self, Aws};
use crate::cli::{Cli, Command, Provider};
use crate::error::DeployError;
use crate::iam;
use crate::status::Status;

fn write_err(e: std::io::Error) -> DeployError {
    DeployError::Io {
        what: "writing the report".into(),
        source: e,
    }
}

/// Writes one line of the report; a failed write is a [`DeployError::Io`].
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err($crate::commands::write_err)
    };
}

mod down;
mod local;
mod scale;
mod up;

pub use scale::policy;
pub use up::prepare;

/// Whether a command uses AWS at all. The local provider runs processes on this machine, the trust policy is a
/// constant, and an instance or operator policy with `--account` and a region given needs no lookup: those
/// never load the AWS configuration, which off EC2 would probe the instance metadata address (169.254.169.254)
/// for a region and credentials and log each failed probe.
pub fn needs_aws(cli: &Cli) -> bool {
    match (&cli.provider, &cli.command) {
        (Provider::Local, _) => false,
        (Provider::Aws, Command::IamPolicy { trust: true, .. }) => false,
        (
            Provider::Aws,
            Command::IamPolicy {
                account: Some(_), ..
            },
        ) => cli.region.is_none(),
        (Provider::Aws, _) => true,
    }
}

/// Runs a parsed command line as the binary does: the AWS configuration is loaded only for a command that uses
/// AWS ([`needs_aws`]), and then checked for a region and credentials before anything is done, so that a
/// machine without them gets one sentence saying how to set them instead of the first call's failure.
pub async fn run_cli(
    cli: Cli,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    if !needs_aws(&cli) {
        return run_without_aws(cli, out, shutdown).await;
    }
    // A wrong artifact or keys file is refused before AWS is asked anything, even for credentials.
    if let Command::Plan(args) | Command::Up { args, .. } = &cli.command {
        up::check_inputs(args)?;
    }
    let config = sdk_config(cli.region.clone()).await;
    check_config(&config).await?;
    run(cli, &config, out, shutdown).await
}

/// The commands [`needs_aws`] lets run without an AWS configuration.
async fn run_without_aws(
    cli: Cli,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    match (cli.provider, cli.command) {
        (Provider::Local, command) => {
            local::run(&cli.stack, &cli.local, command, cli.json, out, shutdown).await
        }
        (
            Provider::Aws,
            Command::IamPolicy {
                account,
                trust,
                operator,
            },
        ) => {
            let region = cli.region.unwrap_or_default();
            let account = account.unwrap_or_default();
            print_policy(&cli.stack, &region, &account, trust, operator, out)
        }
        (Provider::Aws, _) => Err(DeployError::Invalid(
            "this command needs AWS: run it through run_cli or run".into(),
        )),
    }
}

/// Checks that the configuration has a region and that its credential chain yields credentials. Off EC2 with
/// nothing configured, the chain ends at the instance metadata service, which does not answer there.
pub async fn check_config(config: &SdkConfig) -> Result<(), DeployError> {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_credential_types::provider::ProvideCredentials as _;

    let region = config.region().is_some();
    let credentials = match config.credentials_provider() {
        None => Err(None),
        Some(provider) => match provider.provide_credentials().await {
            Ok(_) => Ok(()),
            Err(CredentialsError::CredentialsNotLoaded(_)) => Err(None),
            Err(e) => Err(Some(e)),
        },
    };
    match (region, credentials) {
        (true, Ok(())) => Ok(()),
        // A chain that found a source but could not use it (a broken profile, an expired SSO session): its
        // own message says what is wrong.
        (_, Err(Some(source))) => Err(DeployError::CredentialChain { source }),
        (region, credentials) => Err(DeployError::NoAwsSetup {
            region,
            credentials: credentials.is_ok(),
        }),
    }
}

/// The SDK configuration: the default chain, with the region override if given, and a standard retry policy.
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(5));
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// Runs one command.
pub async fn run(
    cli: Cli,
    config: &SdkConfig,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    match cli.provider {
        Provider::Local => {
            local::run(&cli.stack, &cli.local, cli.command, cli.json, out, shutdown).await
        }
        Provider::Aws => {
            let aws = Aws::new(config, cli.stack.clone())?;
            run_aws(aws, cli.command, cli.json, out, shutdown).await
        }
    }
}

/// Runs one command on AWS.
async fn run_aws(
    aws: Aws,
    command: Command,
    json_out: bool,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    match command {
        Command::Plan(args) => Box::pin(up::plan(&aws, &args, json_out, out)).await,
        Command::Up { args, wait } => Box::pin(up::up(&aws, &args, wait, json_out, out)).await,
        Command::IamPolicy {
            account,
            trust,
            operator,
        } => iam_policy(&aws, account, trust, operator, out).await,
        Command::Status => {
            let status = Box::pin(aws::status::status(&aws)).await?;
            print_status(&status, json_out, out)
        }
        Command::Scale { workers, .. } => {
            let fleet = aws::fleet::Ec2Fleet::open(aws).await?;
            scale::scale(&fleet, workers, json_out, out).await
        }
        Command::Autoscale(args) => {
            let fleet = aws::fleet::Ec2Fleet::open(aws).await?;
            scale::autoscale(&fleet, &args, json_out, out, shutdown).await
        }
        Command::Down {
            delete_data,
            yes,
            wait,
        } => Box::pin(down::down(&aws, delete_data, yes, wait, json_out, out)).await,
    }
}

/// `iam-policy`: prints the instance policy, the trust policy or the operator policy.
async fn iam_policy(
    aws: &Aws,
    account: Option<String>,
    trust: bool,
    operator: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let account = match account {
        Some(a) => a,
        None if trust => String::new(),
        None => aws.account_id().await?,
    };
    print_policy(&aws.stack, &aws.region, &account, trust, operator, out)
}

/// Prints one policy for a stack in a region and account (the trust policy uses neither).
fn print_policy(
    stack: &crate::stack::StackName,
    region: &str,
    account: &str,
    trust: bool,
    operator: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let scope = iam::Scope::new(region, account);
    let policy = if trust {
        iam::trust_policy()
    } else if operator {
        iam::operator_policy(stack, &scope)
    } else {
        iam::instance_policy(stack, &scope)
    };
    say!(
        out,
        "{}",
        serde_json::to_string_pretty(&policy).unwrap_or_default()
    )
}

/// Prints `status` for either provider.
fn print_status(
    status: &Status,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    if json_out {
        say!(out, "{}", serde_json::to_string(status).unwrap_or_default())
    } else {
        write!(out, "{status}").map_err(write_err)
    }
}

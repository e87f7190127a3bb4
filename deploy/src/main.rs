use std::process::ExitCode;

use airq_deploy::cli::Cli;
use clap::Parser;

/// Log directives added to the tool's level: the AWS SDK's configuration loader held to errors. Off EC2 it logs
/// every failed probe of the instance metadata service as a warning, which says nothing an operator can act
/// on; what is missing is reported once, as the command's error (`commands::check_config`). `RUST_LOG`
/// overrides.
const QUIET_SDK_LOADER: &str = "aws_config=error";

#[tokio::main]
async fn main() -> ExitCode {
    airq_common::telemetry::init(
        airq_common::telemetry::LogFormat::Text,
        &format!("{},{QUIET_SDK_LOADER}", airq_common::telemetry::TOOL_LEVEL),
    );
    let cli = Cli::parse();
    let mut out = std::io::stdout();
    match airq_deploy::commands::run_cli(cli, &mut out, airq_common::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airq-deploy: {e}");
            ExitCode::FAILURE
        }
    }
}

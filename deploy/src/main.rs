use std::process::ExitCode;

use airq_deploy::cli::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    airq_common::telemetry::init(
        airq_common::telemetry::LogFormat::Text,
        airq_common::telemetry::TOOL_LEVEL,
    );
    let cli = Cli::parse();
    let config = airq_deploy::commands::sdk_config(cli.region.clone()).await;
    let mut out = std::io::stdout();
    match airq_deploy::commands::run(cli, &config, &mut out, airq_common::shutdown::signal()).await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airq-deploy: {e}");
            ExitCode::FAILURE
        }
    }
}

use std::process::ExitCode;

use airq_loadtest::config::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    airq_common::telemetry::init(
        airq_common::telemetry::LogFormat::Text,
        airq_common::telemetry::TOOL_LEVEL,
    );
    match airq_loadtest::cli::main(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airq-loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

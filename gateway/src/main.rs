use std::process::ExitCode;

use airq_gateway::config::GatewayConfig;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match airq_gateway::standalone::main(GatewayConfig::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "airq-gateway failed");
            ExitCode::FAILURE
        }
    }
}

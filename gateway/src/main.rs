use std::process::ExitCode;

use airq_gateway::config::GatewayConfig;
use clap::Parser;

fn main() -> ExitCode {
    // Before any thread or allocation of note: see `airq_common::malloc`.
    airq_common::malloc::cap_arenas();
    run_main()
}

#[tokio::main]
async fn run_main() -> ExitCode {
    let config = GatewayConfig::parse();
    airq_common::telemetry::init(config.log_format, airq_common::telemetry::SERVICE_LEVEL);
    match airq_gateway::standalone::main(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "airq-gateway failed");
            ExitCode::FAILURE
        }
    }
}

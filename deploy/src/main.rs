use std::process::ExitCode;

use airq_deploy::cli::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = airq_deploy::commands::sdk_config(cli.region.clone()).await;
    let mut out = std::io::stdout();
    match airq_deploy::commands::run(
        cli,
        &config,
        &mut out,
        airq_common::shutdown::shutdown_signal(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airq-deploy: {e}");
            ExitCode::FAILURE
        }
    }
}

use std::process::ExitCode;

use airq_loadtest::config::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match airq_loadtest::cli::main(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airq-loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

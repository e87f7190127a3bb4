use std::process::ExitCode;

use airq_master::config::{Cli, Command};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Ingest(args) = Cli::parse().command;
    let json = args.json;
    let result =
        airq_master::run(
            &args,
            airq_common::shutdown::shutdown_signal(),
            |outcome| match outcome {
                Ok(summary) if json => {
                    println!("{}", serde_json::to_string(summary).unwrap_or_default())
                }
                Ok(summary) => print!("{summary}"),
                Err(e) => eprintln!("airq-master: {e}"),
            },
        )
        .await;
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            tracing::error!(error = %e, "airq-master failed");
            ExitCode::FAILURE
        }
    }
}

//! `airq-master ingest ...`: parses the command line, runs, and maps the outcome to the exit status.

use std::io::IsTerminal;
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
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let Command::Ingest(args) = Cli::parse().command;
    let json = args.json;
    // Summaries go to stdout; a failed scheduled run is logged by the scheduler, a fatal error below.
    let print = |outcome: &Result<_, _>| match outcome {
        Ok(summary) if json => match serde_json::to_string(summary) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("airq-master: could not print the summary as JSON: {e}"),
        },
        Ok(summary) => print!("{summary}"),
        Err(_) => {}
    };
    match airq_master::run(&args, airq_common::shutdown::shutdown_signal(), print).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("airq-master: {e}");
            ExitCode::FAILURE
        }
    }
}

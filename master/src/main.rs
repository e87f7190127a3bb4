//! `airq-master ingest ...`: parses the command line, runs, and maps the outcome to the exit status.

use std::process::ExitCode;

use airq_master::config::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    // Before any thread or allocation of note: see `airq_common::malloc`.
    airq_common::malloc::cap_arenas();
    run_main()
}

#[tokio::main]
async fn run_main() -> ExitCode {
    let cli = Cli::parse();
    airq_common::telemetry::init(cli.log_format, airq_common::telemetry::SERVICE_LEVEL);
    let Command::Ingest(args) = cli.command;
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
    let stop = airq_common::shutdown::on_signal();
    airq_common::metrics::install("master");
    if let Some(addr) = args.metrics_listen {
        match airq_common::metrics::spawn_listener(addr, stop.clone()).await {
            Ok(bound) => eprintln!("airq-master: metrics on http://{bound}/metrics"),
            Err(e) => {
                eprintln!("airq-master: binding the metrics listener {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match airq_master::run(&args, stop, print).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("airq-master: {e}");
            ExitCode::FAILURE
        }
    }
}

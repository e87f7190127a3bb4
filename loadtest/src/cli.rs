//! Dispatching the command line to the library and turning results into output and an exit status.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::{Cli, Command};

/// Runs what the command line asks; the exit code is 1 when no request succeeded (in any scenario of a sweep) or
/// a `--fail-if` condition holds.
pub async fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    match (cli.command, cli.load) {
        (Some(Command::Sweep(args)), _) => {
            let rows = crate::sweep(&args).await?;
            println!("closed loop: tails are optimistic (see the note in single runs)\n");
            print!("{}", crate::sweep_table(&rows));
            if let Some(path) = &args.json {
                let reports: Vec<_> = rows.iter().map(|(_, r)| r).collect();
                std::fs::write(path, serde_json::to_vec_pretty(&reports)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = &args.plot {
                crate::plot::sweep(path, &rows)?;
            }
            let empty: Vec<String> = rows
                .iter()
                .filter_map(|(name, r)| r.nothing_succeeded().map(|why| format!("{name}: {why}")))
                .collect();
            if !empty.is_empty() {
                println!("FAILED: {}", empty.join("; "));
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::Slow(args)), _) => {
            let plan = crate::slow::plan(&args)?;
            let report = crate::slow::run(&plan).await?;
            print!("{}", report.summary());
            if report.held() > 0 {
                println!(
                    "FAILED: {} connection(s) held past {:?}",
                    report.held(),
                    args.expect_cut_within
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::GenFeed(args)), _) => {
            crate::gen_feed(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        (Some(Command::Ceiling(args)), _) => {
            let body = std::fs::read(&args.body_file)
                .with_context(|| format!("reading {}", args.body_file.display()))?;
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .context("binding")?;
            println!("ceiling listening on http://{}", listener.local_addr()?);
            crate::ceiling::serve(listener, body.into(), airq_common::shutdown::signal()).await;
            Ok(ExitCode::SUCCESS)
        }
        (None, args) if args.url.is_some() => {
            let thresholds = match &args.fail_if {
                Some(spec) => crate::thresholds::parse(spec)
                    .map_err(anyhow::Error::msg)
                    .context("--fail-if")?,
                None => Vec::new(),
            };
            let (report, timeline) = crate::run(&args).await?;
            print!("{}", report.summary());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = &args.plot {
                crate::plot::run(path, &report, &timeline)?;
            }
            if let Some(why) = report.nothing_succeeded() {
                println!("FAILED: {why}");
                return Ok(ExitCode::from(1));
            }
            let tripped: Vec<String> = thresholds.iter().filter_map(|t| t.check(&report)).collect();
            if tripped.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                println!("FAILED thresholds: {}", tripped.join("; "));
                Ok(ExitCode::from(1))
            }
        }
        (None, _) => anyhow::bail!("give a gateway URL or a subcommand; see --help"),
    }
}

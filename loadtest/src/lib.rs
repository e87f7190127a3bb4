//! airq-loadtest: the bundled load generator.
//!
//! Layout: [`config`] (command line), [`queries`] (the query mix), [`client`] (one request under airq's
//! protocol: direct `200`, or `202` then polling), [`drive`] (closed and open loop), [`report`] (HdrHistogram
//! percentiles, summary, JSON schema `airq-loadtest/1`), [`thresholds`] (`--fail-if`), [`plot`] (SVG),
//! [`span`] (the generated queries' time span: `--span`, or the target's data from `/api/status`),
//! [`ceiling`] (a minimal hyper server for the ratio benchmark), [`slow`] (misbehaving clients for the soak).

pub mod ceiling;
pub mod cli;
pub mod client;
pub mod config;
pub mod drive;
pub mod plot;
pub mod queries;
pub mod report;
pub mod slow;
pub mod span;
pub mod thresholds;

use std::sync::Arc;

use anyhow::Context;

use crate::client::{ApiKey, Client};
use crate::config::{LoadArgs, MixArgs, SweepArgs};
use crate::drive::Load;
use crate::queries::{GeneratorSpec, QueryMix};
use crate::report::{Report, RunInfo};

/// Builds the query mix from a file or the generator over `span` (first and last second of the data).
pub fn mix(args: &MixArgs, span: (i64, i64)) -> anyhow::Result<QueryMix> {
    if let Some(path) = &args.queries {
        return Ok(QueryMix::from_file(path)?);
    }
    let countries = args
        .countries
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    Ok(QueryMix::generate(&GeneratorSpec {
        span,
        window_secs: args.window.as_secs() as i64,
        countries,
        count: args.distinct,
        seed: args.seed,
    }))
}

/// The generator's span for a run against `url`: `--span`, else the target's data (see [`span`]). Says on stderr
/// which span a run without `--span` uses. A `--queries` file needs no span, and the target is not asked.
pub async fn mix_span(
    args: &MixArgs,
    url: &str,
    api_key: Option<&ApiKey>,
) -> anyhow::Result<(i64, i64)> {
    if args.queries.is_some() {
        return Ok(span::DEFAULT_SPAN);
    }
    let (span, origin) = span::resolve(args.span.as_deref(), url, api_key)
        .await
        .map_err(anyhow::Error::msg)?;
    if let Some(note) = span::note(span, &origin) {
        eprintln!("{note}");
    }
    Ok(span)
}

/// One run (closed loop with `-n`, otherwise open loop). Returns the report and the per-request timeline.
pub async fn run(args: &LoadArgs) -> anyhow::Result<(Report, Vec<(f64, f64)>)> {
    let max_conn = args.concurrency.max(args.max_in_flight.min(4096));
    let url = args.url.as_deref().context("a gateway URL is required")?;
    let client = Client::new(
        url,
        args.poll,
        args.timeout,
        max_conn,
        !args.no_gzip,
        args.api_key.as_ref(),
    )
    .context("building the HTTP client")?
    .prefer_async(args.prefer_async);
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.prefer_async),
        "--prefer-async must be a share between 0 and 1"
    );
    let span = mix_span(&args.mix, url, args.api_key.as_ref()).await?;
    let load = Load {
        client: Arc::new(client),
        mix: Arc::new(mix(&args.mix, span)?),
        show_progress: !args.quiet,
        max_time: args.max_time,
    };
    let (rec, pacing, info) = match (args.requests, args.rate) {
        (Some(n), None) => {
            let (rec, pacing) = drive::closed(&load, n, args.concurrency).await;
            (
                rec,
                pacing,
                ("closed", n, Some(args.concurrency), None, None),
            )
        }
        (None, rate) => {
            let rate = rate.unwrap_or(50.0);
            anyhow::ensure!(
                rate > 0.0 && rate.is_finite(),
                "--rate must be a positive number"
            );
            let (rec, pacing) = drive::open(&load, rate, args.duration, args.max_in_flight).await;
            let planned = (rate * args.duration.as_secs_f64()).round() as u64;
            (
                rec,
                pacing,
                (
                    "open",
                    planned,
                    None,
                    Some(rate),
                    Some(args.duration.as_secs_f64()),
                ),
            )
        }
        (Some(_), Some(_)) => {
            anyhow::bail!("give either -n (closed loop) or --rate (open loop), not both")
        }
    };
    let (mode, planned, concurrency, rate, duration) = info;
    let report = rec.report(RunInfo {
        target: url.to_string(),
        mode,
        requests_planned: planned,
        concurrency,
        rate_per_s: rate,
        duration_s: duration,
        poll: args.poll,
        elapsed_s: pacing.elapsed.as_secs_f64(),
        late_arrivals: pacing.late,
        dropped_arrivals: pacing.dropped,
    });
    Ok((report, rec.timeline))
}

/// Runs the closed-loop scenarios one after another.
pub async fn sweep(args: &SweepArgs) -> anyhow::Result<Vec<(String, Report)>> {
    let mut rows = Vec::new();
    // Asked once: every scenario queries the same span.
    let span = mix_span(&args.mix, &args.url, args.api_key.as_ref()).await?;
    let mix_args = MixArgs {
        span: Some(span::format(span)),
        ..args.mix.clone()
    };
    for scenario in args
        .scenarios
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (n, c) = scenario
            .split_once('/')
            .and_then(|(n, c)| {
                Some((
                    n.trim().parse::<u64>().ok()?,
                    c.trim().parse::<usize>().ok()?,
                ))
            })
            .with_context(|| format!("scenario {scenario:?} is not REQUESTS/CONCURRENCY"))?;
        let load_args = LoadArgs {
            url: Some(args.url.clone()),
            requests: Some(n),
            concurrency: c,
            rate: None,
            duration: std::time::Duration::from_secs(10),
            max_in_flight: 10_000,
            mix: mix_args.clone(),
            poll: args.poll,
            timeout: args.timeout,
            max_time: args.max_time,
            no_gzip: false,
            prefer_async: 0.0,
            api_key: args.api_key.clone(),
            json: None,
            plot: None,
            fail_if: None,
            quiet: true,
        };
        let (report, _) = run(&load_args).await?;
        eprintln!(
            "  {scenario}: done ({} ok, {} failed)",
            report.ok, report.failed
        );
        rows.push((scenario.to_string(), report));
    }
    Ok(rows)
}

/// The sweep as one table.
pub fn sweep_table(rows: &[(String, Report)]) -> String {
    let mut s = String::from(
        "scenario (n/c)   ok   failed  direct  queued    req/s   p50 ms   p90 ms   p99 ms    max ms  mean ms  errors\n",
    );
    for (name, r) in rows {
        s.push_str(&format!(
            "{name:<14} {:>5} {:>8} {:>7} {:>7} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>8.2}  {}\n",
            r.ok,
            r.failed,
            r.direct,
            r.queued,
            r.throughput_rps,
            r.result_ms.p50,
            r.result_ms.p90,
            r.result_ms.p99,
            r.result_ms.max,
            r.result_ms.mean,
            if r.errors.is_empty() {
                "-".to_string()
            } else {
                serde_json::to_string(&r.errors).unwrap_or_default()
            }
        ));
    }
    s
}

/// Writes a synthetic feed (the one generator, `airq_common::synth`) to a file or stdout.
pub fn gen_feed(args: &config::GenFeedArgs) -> anyhow::Result<()> {
    let start = airq_common::time::parse_query_timestamp(&args.start)
        .with_context(|| format!("--start: {:?} is not a timestamp", args.start))?;
    let cfg = airq_common::synth::SynthConfig {
        sensors: args.sensors,
        hours: args.hours,
        interval_secs: args.interval,
        seed: args.seed,
        start,
    };
    let summary = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            airq_common::synth::write_feed(&cfg, file)?
        }
        None => airq_common::synth::write_feed(&cfg, std::io::stdout().lock())?,
    };
    eprintln!(
        "gen-feed: {} records, {} bytes",
        summary.records, summary.bytes
    );
    Ok(())
}

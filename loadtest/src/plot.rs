//! SVG plots (plotters, SVG backend only: no system fonts or image libraries needed).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Report;

#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {message}")]
pub struct PlotError {
    path: String,
    message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// One run: result-latency percentiles (left) and latency over time (right).
pub fn run(path: &Path, report: &Report, timeline: &[(f64, f64)]) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (1100, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (left, right) = root.split_horizontally(450);
    let p = &report.result_ms;
    let points = [
        ("p50", p.p50),
        ("p90", p.p90),
        ("p99", p.p99),
        ("p99.9", p.p999),
        ("max", p.max),
    ];
    let top = points.iter().map(|(_, v)| *v).fold(1.0_f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption("result latency percentiles (ms)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0usize..points.len(), 0.0..top)
        .map_err(|e| err(path, e))?;
    chart
        .configure_mesh()
        .x_labels(points.len())
        .x_label_formatter(&|i| {
            points
                .get(*i)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default()
        })
        .draw()
        .map_err(|e| err(path, e))?;
    chart
        .draw_series(LineSeries::new(
            points.iter().enumerate().map(|(i, (_, v))| (i, *v)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(path, e))?;
    chart
        .draw_series(
            points
                .iter()
                .enumerate()
                .map(|(i, (_, v))| Circle::new((i, *v), 4, BLUE.filled())),
        )
        .map_err(|e| err(path, e))?;

    let t_max = timeline.iter().map(|(t, _)| *t).fold(1e-3, f64::max);
    let l_max = timeline.iter().map(|(_, l)| *l).fold(1.0, f64::max) * 1.1;
    let mut over_time = ChartBuilder::on(&right)
        .caption("result latency over the run (ms)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..t_max, 0.0..l_max)
        .map_err(|e| err(path, e))?;
    over_time
        .configure_mesh()
        .x_desc("seconds since start (scheduled time)")
        .draw()
        .map_err(|e| err(path, e))?;
    over_time
        .draw_series(
            timeline
                .iter()
                .map(|(t, l)| Circle::new((*t, *l), 1, RED.mix(0.5).filled())),
        )
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}

/// A sweep: p50 and p99 of result latency, and throughput, for each scenario.
pub fn sweep(path: &Path, rows: &[(String, Report)]) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (1000, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let top = rows
        .iter()
        .map(|(_, r)| r.result_ms.p99)
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "airq-loadtest sweep: result latency by scenario (requests/concurrency)",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0usize..rows.len().max(1), 0.0..top)
        .map_err(|e| err(path, e))?;
    chart
        .configure_mesh()
        .x_labels(rows.len().max(1))
        .x_label_formatter(&|i| rows.get(*i).map(|(n, _)| n.clone()).unwrap_or_default())
        .y_desc("ms")
        .draw()
        .map_err(|e| err(path, e))?;
    for (label, color, pick) in [
        (
            "p50",
            BLUE,
            (|r: &Report| r.result_ms.p50) as fn(&Report) -> f64,
        ),
        ("p99", RED, |r: &Report| r.result_ms.p99),
    ] {
        chart
            .draw_series(LineSeries::new(
                rows.iter().enumerate().map(|(i, (_, r))| (i, pick(r))),
                color.stroke_width(2),
            ))
            .map_err(|e| err(path, e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                rows.iter()
                    .enumerate()
                    .map(|(i, (_, r))| Circle::new((i, pick(r)), 4, color.filled())),
            )
            .map_err(|e| err(path, e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}

//! The one logging set-up of every airq binary: to stderr, `RUST_LOG` or `info`, plain text without colour
//! codes unless stderr is a terminal (log files and journald get clean lines), or JSON lines for machines.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The level the services log at unless `RUST_LOG` says otherwise (what an operator reads in the journal).
pub const SERVICE_LEVEL: &str = "info";
/// The level command-line tools log at (their output is the report they print; logs are for trouble).
pub const TOOL_LEVEL: &str = "warn";

/// Installs the global subscriber at `default_level` ([`SERVICE_LEVEL`] or [`TOOL_LEVEL`]) unless `RUST_LOG`
/// is set. Call once, first thing in `main`; a second call changes nothing.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
    log_panics();
}

/// Panics go to the log as one line (message and place) instead of stderr's multi-line report: a bug that
/// panics on every request of a hostile client must not write a backtrace per request. The first panic of the
/// process keeps its backtrace (when `RUST_BACKTRACE` asks for one), which is the one worth reading.
fn log_panics() {
    static FIRST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if FIRST.swap(false, std::sync::atomic::Ordering::Relaxed) {
            let backtrace = std::backtrace::Backtrace::capture();
            if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
                tracing::error!(panic = %message, at = %place, %backtrace, "a task panicked");
                return;
            }
        }
        tracing::error!(panic = %message, at = %place, "a task panicked");
    }));
}

//! The services run with glibc's malloc arenas capped at two (`MALLOC_ARENA_MAX=2`).
//!
//! Why: every SQLite call runs on tokio's blocking pool, whose threads each get a malloc arena of their own
//! (glibc makes up to 8 × cores of them), and under a steady load those arenas keep growing with fragmentation.
//! In the soak benchmark (docs/benchmarks.md) the gateway's RSS went from 47 to 195 MiB over ten minutes and was
//! still rising; with two arenas it stayed at 58-65 MiB from the second minute on. mimalloc as the global
//! allocator was tried too: 82 → 230-256 MiB, so no. glibc reads the setting only at start, and setting it from
//! inside needs `mallopt` (unsafe FFI, which this workspace forbids), so a service that starts without it
//! re-executes itself once with it set (same pid, arguments and descriptors). An operator's own
//! `MALLOC_ARENA_MAX` is kept.

/// Re-executes the current binary with `MALLOC_ARENA_MAX=2` unless it is set already; returns only if it is
/// set, or if the re-execution failed (then the process just goes on with glibc's default).
pub fn cap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let error = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("MALLOC_ARENA_MAX", "2")
            .exec();
        eprintln!(
            "note: could not re-execute with MALLOC_ARENA_MAX=2 ({error}); going on without it"
        );
    }
}

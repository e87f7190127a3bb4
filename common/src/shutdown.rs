//! The one stop signal of every airq process: a [`CancellationToken`], cancelled on Ctrl-C or SIGTERM (or by
//! whoever owns it: a test, the system builder). Long-running tasks take a token (a child of their owner's, so a
//! part can be stopped alone) and are spawned on a [`TaskTracker`] so their owner can wait for all of them.

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;

/// Completes when the process is asked to stop (Ctrl-C, or SIGTERM from systemd, Kubernetes or `kill`).
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A token that is cancelled when the process is asked to stop. Call once, in `main`.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("stop requested");
        cancel.cancel();
    });
    token
}

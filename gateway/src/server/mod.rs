//! The HTTP server loop, written so that no client can hold what others need:
//! - a connection must show its protocol within the header timeout (a silent socket, or an HTTP/2 preface cut
//!   short, is closed: hyper's version sniffing has no timeout of its own), and HTTP/1 headers must arrive
//!   within it (hyper's header read timeout, which also closes idle keep-alive connections);
//! - HTTP/2 connections are pinged, and closed when a ping goes unanswered; their concurrent streams and header
//!   lists are bounded;
//! - a client that stops reading a response for `write_timeout` is disconnected (the socket's writes time
//!   out), so a slow reader cannot hold a direct-answer permit or anything behind it;
//! - at most `max_connections` connections are open; one more is answered `503` with a JSON body and closed;
//! - accept errors (out of descriptors) back off and are logged once per interval, not twenty times a second;
//! - graceful shutdown stops accepting, lets in-flight requests finish within a bound, then returns.
//!
//! hyper refuses a request head it cannot parse, frame or hold with a bare status line (no body) before any
//! service runs; its limits are set above the gateway's own (`routes::head_limits`), which answer in JSON.

mod limits;
mod sniff;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

pub use limits::{default_max_connections, ServerLimits};

/// Serves `app` on `listener` until `shutdown` completes, then drains. Returns whether every connection closed
/// within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> bool {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.h2_keepalive)
        .keep_alive_timeout(limits.h2_keepalive)
        .max_concurrent_streams(limits.h2_max_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(Some(32));
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = limits::AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    backoff.reset();
                    conn
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning, and say so once a while.
                    let nap = backoff.failed(&e);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(nap) => continue,
                    }
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tokio::spawn(limits::refuse(stream));
            continue;
        };
        // Handlers and the fair-use limits know the peer through axum's `ConnectInfo`.
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            // A client that does not say which protocol it speaks in time is dropped before hyper sees it.
            if !sniff::protocol_shown(&stream, limits.header_timeout).await {
                return;
            }
            let io = TokioIo::new(Box::pin(timed(stream, limits.write_timeout)));
            let conn = builder.serve_connection_with_upgrades(io, service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => true,
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("in-flight requests did not finish within the grace period");
            false
        }
    }
}

/// The socket with a write timeout: a write that makes no progress for `write_timeout` fails, and hyper closes
/// the connection. (Only writes: hyper may poll a read while it streams a response, and an idle read there is
/// no fault of the client's.)
fn timed(stream: TcpStream, write_timeout: Duration) -> TimeoutStream<TcpStream> {
    let mut io = TimeoutStream::new(stream);
    io.set_write_timeout(Some(write_timeout));
    io
}

//! The ceiling: a minimal hyper server that answers every request with the same fixed bytes as `text/csv`.
//! Loading it with the same settings as airq, in the same run, tells how much of the measured cost is the
//! HTTP stack and the load generator itself, and so what fraction of that ceiling airq reaches.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Serves `body` on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, body: Bytes, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<Incoming>| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "text/csv; charset=utf-8")
                            .body(http_body_util::Full::new(body))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

//! Assembling a gateway: its reply queue, its state, its background tasks, its server, and its clean exit.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use airq_common::queue::{QueueError, QueueOptions, QueueService};
use airq_common::store::ReadingStore;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use uuid::Uuid;

use crate::replies;
use crate::results::{Limits, Results};
use crate::routes::{self, RequestLimits};
use crate::server::{self, ServerLimits};
use crate::state::{AppState, Settings};

/// The reply-queue name prefix when none is configured.
pub const DEFAULT_REPLY_QUEUE_PREFIX: &str = "airq-reply";

/// Everything tunable about a gateway.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Direct answers in flight at most; beyond that, queries are queued.
    pub direct_limit: usize,
    pub results: Limits,
    pub settings: Settings,
    pub request: RequestLimits,
    pub server: ServerLimits,
    /// Receives before a request goes to the dead-letter queue (used when this gateway creates the queue).
    pub max_receives: u32,
    /// This gateway's reply queue is named `<prefix>-<uuid>`. A deployed stack sets a prefix of its own so that
    /// its IAM policy can name its queues and `airq-deploy down` can find reply queues a dead gateway left.
    pub reply_queue_prefix: String,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            direct_limit: 100,
            results: Limits {
                ttl: Duration::from_secs(600),
                budget: 256 << 20,
                job_deadline: Duration::from_secs(300),
            },
            settings: Settings::default(),
            request: RequestLimits {
                max_body: 64 * 1024,
                body_timeout: Duration::from_secs(10),
            },
            server: ServerLimits {
                header_timeout: Duration::from_secs(10),
                shutdown_grace: Duration::from_secs(20),
            },
            max_receives: airq_common::queue::DEFAULT_MAX_RECEIVES,
            reply_queue_prefix: DEFAULT_REPLY_QUEUE_PREFIX.to_string(),
        }
    }
}

/// A gateway that has its queues and is ready to serve.
pub struct Gateway {
    pub state: AppState,
    options: GatewayOptions,
}

impl Gateway {
    /// Opens (creating if needed) the request queue and creates this gateway's own reply queue.
    pub async fn start(
        store: Arc<dyn ReadingStore>,
        queues: Arc<dyn QueueService>,
        request_queue: &str,
        options: GatewayOptions,
    ) -> Result<Gateway, QueueError> {
        let requests = queues
            .open_or_create(
                request_queue,
                &QueueOptions {
                    max_receives: options.max_receives,
                },
            )
            .await?;
        // One reply queue per gateway: two gateways never take each other's replies.
        let reply_to = format!("{}-{}", options.reply_queue_prefix, Uuid::new_v4().simple());
        queues
            .create(&reply_to, &QueueOptions { max_receives: 0 })
            .await?;
        let mut settings = options.settings.clone();
        settings.max_body = options.request.max_body;
        let state = AppState {
            store,
            queues,
            requests,
            reply_to,
            results: Results::new(options.results),
            direct: Arc::new(Semaphore::new(options.direct_limit)),
            settings,
            ready: Arc::new(AtomicBool::new(true)),
        };
        Ok(Gateway { state, options })
    }

    /// Serves until `shutdown` completes; then drains in-flight requests, stops the reply consumer and removes
    /// the reply queue.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), QueueError> {
        let state = self.state;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let replies = state.queues.open(&state.reply_to).await?;
        let consumer = tokio::spawn(replies::consume(
            replies,
            state.results.clone(),
            stopped(stop_rx.clone()),
        ));
        let sweep_every = (self.options.results.ttl / 10)
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        let sweeper = tokio::spawn(replies::sweep(
            state.results.clone(),
            sweep_every,
            stopped(stop_rx),
        ));
        let app = routes::router(state.clone(), self.options.request);
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, reply_queue = %state.reply_to, "airq-gateway listening");
        }
        server::serve(listener, app, self.options.server, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = consumer.await;
        let _ = sweeper.await;
        state.queues.remove(&state.reply_to).await?;
        tracing::info!(reply_queue = %state.reply_to, "airq-gateway stopped; reply queue removed");
        Ok(())
    }
}

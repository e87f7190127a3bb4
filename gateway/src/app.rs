//! Assembling one gateway: its reply queue, its state, its background tasks, its server, and its clean exit.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use airq_common::backends::Backends;
use airq_common::queue::{QueueError, QueueOptions, HEARTBEAT_EVERY, ORPHAN_AFTER};
use airq_common::shutdown::{CancellationToken, TaskTracker};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::background::{self, SweepPlan};
use crate::routes::{self, MetricsRoute, RequestLimits};
use crate::server::{self, ServerLimits};
use crate::state::{AppState, Settings, Shared};
use crate::waiters::Waiters;

/// How often the gauges read from the backends (queue depth, stored answers) are refreshed between scrapes.
const GAUGES_EVERY: Duration = Duration::from_secs(15);

/// The reply-queue name prefix when none is configured.
pub const DEFAULT_REPLY_QUEUE_PREFIX: &str = "airq-reply";

/// Everything tunable about a gateway.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Direct answers in flight at most; beyond that, queries are queued.
    pub direct_limit: usize,
    pub settings: Settings,
    pub request: RequestLimits,
    pub server: ServerLimits,
    /// Receives before a request goes to the dead-letter queue (used when this gateway creates the queue).
    pub max_receives: u32,
    /// This gateway's reply queue is named `<prefix>-<uuid>`. A deployed stack sets a prefix of its own so that
    /// its IAM policy can name its queues and `airq-deploy down` can find reply queues a dead gateway left.
    pub reply_queue_prefix: String,
    /// How often the reply queue is marked alive.
    pub heartbeat_every: Duration,
    /// A reply queue without a heartbeat for this long is removed by any gateway's sweep.
    pub orphan_after: Duration,
    /// How often the result store and the reply queues are swept.
    pub sweep_every: Duration,
    /// Per-client rates and the queue's bound.
    pub fair_use: crate::fair_use::FairUseLimits,
    /// The API keys every API request must present; `None` turns keys off.
    pub api_keys: Option<Arc<airq_common::api_keys::ApiKeys>>,
    /// Serve `/metrics` on this address only (not on the API port).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Origins whose pages may call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<axum::http::HeaderValue>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            direct_limit: 100,
            settings: Settings::default(),
            request: RequestLimits {
                max_body: 64 * 1024,
                body_timeout: Duration::from_secs(10),
            },
            server: ServerLimits::default(),
            max_receives: airq_common::queue::DEFAULT_MAX_RECEIVES,
            reply_queue_prefix: DEFAULT_REPLY_QUEUE_PREFIX.to_string(),
            heartbeat_every: HEARTBEAT_EVERY,
            orphan_after: ORPHAN_AFTER,
            sweep_every: Duration::from_secs(30),
            fair_use: crate::fair_use::FairUseLimits::default(),
            api_keys: None,
            metrics_listen: None,
            cors_origins: Vec::new(),
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
        backends: &Backends,
        options: GatewayOptions,
    ) -> Result<Gateway, QueueError> {
        airq_common::metrics::install("gateway");
        let requests = backends
            .queues
            .open_or_create(
                &backends.request_queue,
                &QueueOptions {
                    max_receives: options.max_receives,
                },
            )
            .await?;
        // One reply queue per gateway: two gateways never take each other's notices. Created with a heartbeat.
        let reply_to = format!("{}-{}", options.reply_queue_prefix, Uuid::new_v4().simple());
        backends
            .queues
            .create(&reply_to, &QueueOptions { max_receives: 0 })
            .await?;
        let mut settings = options.settings.clone();
        settings.max_body = options.request.max_body;
        let answers = Arc::new(airq_common::answer::cache::Answers::new(
            backends.store.clone(),
            settings.answer_cache,
            settings.version_fresh,
        ));
        let cache_control = crate::routes::conditional::cache_control(
            options.api_keys.is_some(),
            settings.max_age_secs,
        );
        let state = AppState::new(Shared {
            store: backends.store.clone(),
            queues: backends.queues.clone(),
            requests,
            results: backends.results.clone(),
            reply_to,
            waiters: Waiters::default(),
            direct: Arc::new(Semaphore::new(options.direct_limit)),
            direct_limit: options.direct_limit,
            settings,
            fair: crate::fair_use::FairUse::new(options.fair_use),
            outstanding: Arc::new(crate::outstanding::Outstanding::new(
                options.fair_use.max_pending_per_client,
            )),
            keys: options.api_keys.clone(),
            started: std::time::Instant::now(),
            status_cache: Default::default(),
            answers,
            parsed: Default::default(),
            cache_control,
            ready: Arc::new(AtomicBool::new(true)),
        });
        Ok(Gateway { state, options })
    }

    /// Serves until `stop` is cancelled; then drains in-flight requests, stops the background tasks and
    /// removes the reply queue.
    pub async fn run(
        self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> Result<(), QueueError> {
        let state = self.state;
        let options = self.options;
        let tasks = TaskTracker::new();
        let background = CancellationToken::new();
        let replies = state.queues.open(&state.reply_to).await?;
        tasks.spawn(background::notices(
            replies,
            state.waiters.clone(),
            state.outstanding.clone(),
            background.clone(),
        ));
        tasks.spawn(background::heartbeat(
            state.queues.clone(),
            state.reply_to.clone(),
            options.heartbeat_every,
            background.clone(),
        ));
        tasks.spawn(background::sweep(
            state.results.clone(),
            state.queues.clone(),
            SweepPlan {
                every: options.sweep_every,
                reply_prefix: options.reply_queue_prefix.clone(),
                orphan_after: options.orphan_after,
            },
            background.clone(),
        ));
        tasks.spawn({
            let (fair, outstanding) = (state.fair.clone(), state.outstanding.clone());
            let (stop, every) = (background.clone(), options.sweep_every);
            async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => {
                            fair.forget_idle();
                            outstanding.expire();
                        }
                    }
                }
            }
        });
        tasks.spawn({
            let (state, stop) = (state.clone(), background.clone());
            async move {
                let mut tick = tokio::time::interval(GAUGES_EVERY);
                for n in 0u64.. {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        // The result store's usage is a scan on DynamoDB: once a minute is enough.
                        _ = tick.tick() => routes::metrics::read_gauges(&state, n % 4 == 0).await,
                    }
                }
            }
        });
        tasks.spawn(airq_common::metrics::upkeep(background.clone()));
        // With a metrics listener of its own (bound by the system builder), `/metrics` is not on the API port.
        let metrics_route = match options.metrics_listen {
            Some(_) => MetricsRoute::Elsewhere,
            None => MetricsRoute::Api,
        };
        tasks.close();
        let app = routes::cors::allow(
            routes::router(state.clone(), options.request, metrics_route),
            &options.cors_origins,
        );
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, reply_queue = %state.reply_to, "airq-gateway listening");
        }
        server::serve(listener, app, options.server, stop.cancelled()).await;
        background.cancel();
        tasks.wait().await;
        state.queues.remove(&state.reply_to).await?;
        tracing::info!(reply_queue = %state.reply_to, "airq-gateway stopped; reply queue removed");
        Ok(())
    }
}

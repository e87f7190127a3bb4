//! airq-gateway: the HTTP front door.
//!
//! A query is answered directly (streamed CSV) while fewer than `--direct-limit` direct answers are in flight;
//! beyond that, or when the client sends `Prefer: respond-async`, it is queued for a worker and the client gets
//! `202` with the job's id and polls `/results/<id>`.
//!
//! Layout: [`config`] (command line), [`system`] (the one assembly of gateway, workers and ingest), [`app`]
//! (one gateway: its reply queue, state and background tasks), [`routes`] (HTTP handlers, and the web console at
//! `/`), [`background`] (notices, reply-queue heartbeat, sweeps), [`auth`] (API keys, job ownership),
//! [`fair_use`] (per-client rates, the queue bound), [`outstanding`] (pending jobs per client), [`waiters`]
//! (wake-ups for `?wait=`), [`server`] (the hyper loop with timeouts and graceful shutdown), [`standalone`] (the
//! binary's run), [`state`], [`error`].
//!
//! Queued results are not kept here: every job's record and answer are in the shared result store, so any
//! gateway answers for any job, and a gateway that dies loses nothing.

pub mod app;
pub mod auth;
pub mod background;
pub mod config;
pub mod error;
pub mod fair_use;
pub mod openapi;
pub mod outstanding;
pub mod parsed;
pub mod routes;
pub mod server;
pub mod standalone;
pub mod state;
pub mod system;
pub mod waiters;

pub use app::{Gateway, GatewayOptions};
pub use system::{IngestPlan, System, SystemBuilder};

//! airq-gateway: the HTTP front door.
//!
//! A query is answered directly (streamed CSV) while fewer than `--direct-limit` direct answers are in flight;
//! beyond that, or when the client sends `Prefer: respond-async`, it is queued for a worker and the client gets
//! `202` with the job's id and polls `/results/<id>`.
//!
//! Layout: [`config`] (command line), [`app`] (assembling and running a gateway), [`routes`] (HTTP handlers),
//! [`results`] (the table of queued jobs and results), [`replies`] (the reply-queue consumer), [`server`] (the
//! hyper loop with timeouts and graceful shutdown), [`standalone`] (master, workers and gateway in one
//! process), [`state`], [`error`].

pub mod app;
pub mod config;
pub mod error;
pub mod replies;
pub mod results;
pub mod routes;
pub mod server;
pub mod standalone;
pub mod state;

pub use app::{Gateway, GatewayOptions};

//! airq-master: ingests Sensor.Community feeds and archives into the reading store, once or on a schedule.
//!
//! Layout: [`config`] (command line), [`source`] (file, folder or URL, and format detection), [`http`] (fetching
//! with conditional GET), [`ingest`] (one run: parse → batches → upsert), [`summary`] (what a run did),
//! [`schedule`] (once, or every interval with jitter until stopped) and [`error`].

pub mod config;
pub mod error;
pub mod http;
pub mod ingest;
pub mod schedule;
pub mod source;
pub mod summary;

pub use error::IngestError;
pub use schedule::{jittered, run, run_on};

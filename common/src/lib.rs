//! airq-common: what every airq role shares.
//!
//! Layout:
//! - [`reading`]: the reading model and the rules that turn a source record into a reading or a counted skip.
//! - [`index`]: the UK DAQI, table-driven, and its bands.
//! - [`time`]: epoch-second timestamps and their text forms.
//! - [`feed`]: streaming reader for Sensor.Community JSON snapshot feeds, tolerant of damage.
//! - [`archive`]: reader for the `;`-separated daily archive files.
//! - [`query`]: the query model, parsed from the legacy JSON body or URL parameters, validated.
//! - [`csv_out`]: the CSV answer format.
//! - [`protocol`]: the messages between gateways and workers (a queued job, the worker's notices, failure
//!   reasons).
//! - [`results`]: the `ResultStore` trait (queued answers, shared by every gateway) and its SQLite and
//!   DynamoDB + S3 backends, and the streaming answer writer/reader.
//! - [`queue`]: the `JobQueue` trait and its SQLite and SQS backends.
//! - [`store`]: the `ReadingStore` trait and its SQLite and DynamoDB backends.
//! - [`synth`]: a deterministic synthetic feed generator shaped like the real data, for scale tests.
//! - [`backends`]: opening store, queues and result store from their URLs; [`defaults`]: shared defaults.
//! - [`aws`], [`sqlite_pool`]: shared backend plumbing. [`shutdown`]: the one stop signal (a cancellation
//!   token). [`telemetry`]: the one logging set-up.

pub mod answer;
pub mod api_keys;
pub mod archive;
pub mod aws;
pub mod backends;
pub mod csv_out;
pub mod defaults;
pub mod feed;
pub mod index;
pub mod malloc;
pub mod metrics;
pub mod protocol;
pub mod query;
pub mod queue;
pub mod reading;
pub mod results;
pub mod shutdown;
pub mod sqlite_pool;
pub mod store;
pub mod synth;
pub mod telemetry;
pub mod time;
pub mod units;

#[cfg(feature = "test-support")]
pub mod testing;

pub use index::Band;
pub use query::{Query, QueryError};
pub use reading::{ParseStats, Reading, SkipReason};
pub use store::{open_store, ReadingStore, StoreError};
pub use units::parse_bytes;

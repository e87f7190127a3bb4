//! Defaults shared by every role, in one place, each with its reason.

/// The embedded backends' file: store, queues and results share it, so a fresh machine needs no setup.
pub const EMBEDDED_URL: &str = "sqlite://./data/airq.db";
/// Readings per store page, on the direct and the queued path alike: big enough that per-page overhead (a
/// channel hop, a DynamoDB request of up to 1 MB) is amortised, small enough that a page is well under a
/// megabyte in memory.
pub const PAGE_SIZE: usize = 2000;
/// Readings per `upsert` during ingest: SQLite commits once per batch (larger batches measured faster up to
/// ~20k, see docs/benchmarks.md), DynamoDB splits it into requests of 25 anyway.
pub const INGEST_BATCH: usize = 20_000;

//! Queue tests: the conformance suite on every backend.

#[path = "../support/scratch.rs"]
mod scratch;
mod sqlite;
mod sqs;

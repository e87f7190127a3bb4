//! Queue tests: the conformance suite on every backend.

mod sqlite;
mod sqs;

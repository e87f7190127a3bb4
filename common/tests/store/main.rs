//! Store tests: the conformance suite on every backend, plus backend-specific checks.

mod dynamodb;
#[path = "../support/scratch.rs"]
mod scratch;
mod sqlite;

//! Store tests: the conformance suite on every backend, plus backend-specific checks.

mod dynamodb;
mod sqlite;

//! Result store tests: the conformance suite on every backend, and what only the embedded store does (a budget
//! with eviction).

mod aws;
#[path = "../support/scratch.rs"]
mod scratch;
mod sqlite;

//! Test support shared by every crate's tests (feature `test-support`): the store conformance suite and the
//! local AWS emulator harness, fixtures, and helpers for tests that run binaries.

pub mod conformance;
pub mod emulator;
pub mod fixtures;
pub mod process;
pub mod prometheus;
pub mod queue_conformance;
pub mod result_conformance;

//! Test support shared by every crate's tests (feature `test-support`): the store conformance suite and the
//! local AWS emulator harness.

pub mod conformance;
pub mod emulator;
pub mod fixtures;
pub mod queue_conformance;

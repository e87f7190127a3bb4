//! A scratch directory that is removed when the test that asked for it ends.
//!
//! The conformance macros take a factory that returns only the backend, so a `TempDir` cannot travel beside it;
//! it is kept in a thread-local instead. libtest runs each test on a thread of its own and polls the test's
//! future (and so the factory) on that thread, so the directory goes when that thread ends, after the test's
//! runtime and backend are dropped. (The factories used `TempDir::keep`, which left a directory in the system's
//! temporary folder for every conformance case of every run.)

use std::cell::RefCell;
use std::path::PathBuf;

thread_local! {
    static DIRS: RefCell<Vec<tempfile::TempDir>> = const { RefCell::new(Vec::new()) };
}

/// A new empty directory that lives until the calling thread ends.
pub fn dir() -> PathBuf {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    DIRS.with(|dirs| dirs.borrow_mut().push(dir));
    path
}

//! Separate processes (next commit).

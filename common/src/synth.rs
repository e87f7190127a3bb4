//! Synthetic feed generator (being written).

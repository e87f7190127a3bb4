//! airq-worker: arrives with its own issue.

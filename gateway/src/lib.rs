//! airq-gateway: arrives with its own issue.

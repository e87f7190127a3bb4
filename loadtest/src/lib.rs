//! airq-loadtest: arrives with its own issue.

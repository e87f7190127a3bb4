//! airq-deploy: arrives with its own issue.

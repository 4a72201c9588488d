//! The runtime's integration tests, one binary: token refresh through the publish pipeline,
//! account health, re-sealing tokens under a new key, and reconciling posts with the same
//! caption, and the first comment's at-most-once steps, on SQLite and PostgreSQL.

mod comment;
mod fixture;
mod insights;
mod reconcile;
mod refresh;

//! The runtime's integration tests, one binary: token refresh through the publish pipeline,
//! account health, re-sealing tokens under a new key, and reconciling posts with the same
//! caption, on SQLite and PostgreSQL.

mod fixture;
mod reconcile;
mod refresh;

//! The runtime's integration tests, one binary: token refresh through the publish pipeline,
//! account health, and re-sealing tokens under a new key, on SQLite and PostgreSQL.

mod refresh;

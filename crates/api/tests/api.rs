//! The control API through real HTTP on a random loopback port, on SQLite and PostgreSQL.

#[macro_use]
#[path = "api/harness.rs"]
mod harness;

#[path = "api/auth.rs"]
mod auth;
#[path = "api/hooks.rs"]
mod hooks;
#[path = "api/idempotency.rs"]
mod idempotency;
#[path = "api/matrix.rs"]
mod matrix;
#[path = "api/resources.rs"]
mod resources;

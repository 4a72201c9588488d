//! The store's integration suite, one binary. Every test in the submodules (but `boundary`,
//! which reads the workspace's sources) runs twice, against SQLite (a
//! temporary file) and against PostgreSQL (a database of its own, created for the test and
//! dropped after it): `cargo test -p pressroom-store --test store sqlite` or `... postgres`
//! picks one backend. PostgreSQL comes from `PRESSROOM_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); when it cannot be reached the PostgreSQL
//! variants fail, they never pass silently.

#[macro_use]
#[path = "store/harness.rs"]
mod harness;

#[path = "store/boundary.rs"]
mod boundary;
#[path = "store/idempotency.rs"]
mod idempotency;
#[path = "store/insights.rs"]
mod insights;
#[path = "store/instance_lock.rs"]
mod instance_lock;
#[path = "store/object_blobs.rs"]
mod object_blobs;
#[path = "store/page.rs"]
mod page;
#[path = "store/queue.rs"]
mod queue;
#[path = "store/repos.rs"]
mod repos;
#[path = "store/retention.rs"]
mod retention;
#[path = "store/schema.rs"]
mod schema;
#[path = "store/webhook_endpoints.rs"]
mod webhook_endpoints;

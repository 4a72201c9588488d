//! Pressroom's storage: sea-orm over SQLite (embedded default) or PostgreSQL (several
//! instances). Every repository call takes the workspace id, and the durable job queue lives
//! here so work is enqueued in the same transaction as the data that needs it.

pub mod entity;
mod error;
pub mod files;
mod instance_lock;
pub mod page;
pub mod queue;
pub mod repo;
pub mod retention;
pub mod sealed;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

pub use error::StoreError;
pub use instance_lock::InstanceLock;
pub use queue::{ClaimedJob, NewJob, Queue};
/// Re-exported so callers use the same sea-orm as the store.
pub use sea_orm;
pub use store::{Backend, Store, Tx};
pub use url::redact_url;

/// Result alias for store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

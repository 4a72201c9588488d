//! Pressroom's storage: sea-orm over SQLite (embedded default) or PostgreSQL (several
//! instances). Every repository call takes the workspace id, and the durable job queue lives
//! here so work is enqueued in the same transaction as the data that needs it.
//!
//! sea-orm is private to this crate: repositories own every query, paging and lock, and
//! callers get rows back as plain data ([`entity`]). `tests/store/boundary.rs` keeps it so.

pub mod blobs;
mod error;
mod files;
mod instance_lock;
mod page;
pub mod queue;
pub mod repo;
pub mod retention;
mod schema;
pub mod sealed;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod url;

pub use blobs::{
    BlobConfigError, BlobError, BlobLocation, BlobStore, LocalBlobs, ObjectBlobs, OpenBlob,
    S3Options, open_blobs,
};
pub use error::StoreError;
pub use instance_lock::InstanceLock;
pub use page::Paging;
pub use queue::{ClaimedJob, NewJob, Queue};
pub use store::{Backend, Store, Tx};
pub use url::redact_url;

/// Result alias for store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The rows repositories return, one module per table: plain data. The sea-orm entities and
/// columns behind them stay private, so only repositories build queries.
pub mod entity {
    macro_rules! models {
        ($($table:ident),* $(,)?) => {$(
            pub mod $table {
                pub use crate::schema::$table::Model;
            }
        )*};
    }
    models!(
        account,
        asset,
        attempt,
        audit,
        campaign,
        job,
        post,
        post_metric,
        rendition,
        review,
        run,
        webhook_endpoint,
        workspace,
    );
}

//! Facebook Pages connector: one photo with caption per post (`POST /{page-id}/photos`), page
//! tokens derived from the user's long-lived token, the Graph API version from config, and the
//! usage headers (`X-App-Usage`, `X-Business-Use-Case-Usage`) read to defer work before Meta
//! throttles us. See PLATFORMS.md §1 and §6.2.
//!
//! Credentials layout (what the store keeps for a Facebook account):
//! - `access_token`: the Page token (no expiry when derived from a long-lived user token);
//! - `refresh_token`: the long-lived user token, used by `refresh` to re-derive the Page token
//!   (Meta has no OAuth refresh token; this is the closest honest equivalent);
//! - `extra`: `{"page_id": "...", "page_name": "..."}`.

mod client;
mod config;
mod connect;
pub mod errors;
#[cfg(feature = "fake")]
pub mod fake;
mod publish;
mod usage;

pub use config::{ConfigError, FacebookConfig};
pub use connect::{ConnectedPage, PageAccount};
pub use publish::FacebookConnector;
pub use usage::Usage;

/// Stable kind stored in the database.
pub const KIND: &str = "facebook";

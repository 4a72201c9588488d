//! Instagram professional accounts through the Content Publishing API (PLATFORMS.md §2, §6.3):
//! `POST /{ig-user-id}/media` (container from a public image URL) → poll the container's
//! `status_code` → check `content_publishing_limit` → `POST /{ig-user-id}/media_publish`.
//!
//! At most once: the container id is the attempt's checkpoint, so a restarted `prepare` reuses
//! it, and `reconcile` asks the container itself — `PUBLISHED` means the post exists (found among
//! recent media), `FINISHED` means `media_publish` never took effect.
//!
//! Credentials layout:
//! - login `facebook` (default, host graph.facebook.com): `access_token` = Page token,
//!   `refresh_token` = long-lived user token (re-derives the Page token), `extra` =
//!   `{"ig_user_id", "page_id"}`;
//! - login `instagram` (host graph.instagram.com): `access_token` = long-lived IG token,
//!   refreshed with `ig_refresh_token` before it expires; `extra` = `{"ig_user_id"}`.

mod client;
mod config;
mod connect;
pub mod errors;
#[cfg(feature = "fake")]
pub mod fake;
mod publish;
mod status;

pub use config::{ConfigError, InstagramConfig, Login};
pub use connect::ConnectedInstagram;
pub use publish::InstagramConnector;
pub use status::ContainerStatus;

/// Stable kind stored in the database.
pub const KIND: &str = "instagram";

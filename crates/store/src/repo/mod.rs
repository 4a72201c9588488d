//! Repositories: one file per aggregate. Every call that reads or changes workspace data takes
//! the workspace id, so a caller can only see what its workspace owns.

pub mod accounts;
pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod blob_keys;
pub mod campaign_delete;
pub mod campaigns;
pub mod erase;
pub mod hooks;
pub mod idempotency;
pub mod insights;
pub mod people;
pub mod posts;
pub mod reviews;
pub mod runs;
pub mod webhook_endpoints;
pub mod workspaces;

//! sea-orm entities, one file per table. Private to the store: only repositories build
//! queries. Times are epoch milliseconds (i64) on both backends.

pub mod account;
pub mod asset;
pub mod attempt;
pub mod audit;
pub mod campaign;
pub mod job;
pub mod post;
pub mod post_metric;
pub mod rendition;
pub mod review;
pub mod run;
pub mod webhook_endpoint;
pub mod workspace;

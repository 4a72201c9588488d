//! What a run does once it has fired: the durable jobs and the loop that runs them.
//!
//! - [`campaigns`]: checking and saving a campaign, for the CLI and the API alike;
//! - [`images`]: keeping a generated image (content-addressed file, asset row);
//! - [`pipeline`]: the job handlers — generate, render, publish, notify (outbound webhooks,
//!   through [`outbound`]), review and refresh — each safe to replay after a crash;
//! - [`reviews`]: the approval gate's decisions (approve, reject, regenerate, expire);
//! - [`worker`]: claims jobs per kind, keeps their leases alive, records each outcome;
//! - [`tokens`]: account tokens sealed at rest ([`TokenCipher`]), saved and refreshed under a
//!   per-account lock, re-sealed on keyring rotation;
//! - [`insights`]: what the posts of a period achieved, and the client report;
//! - [`metrics`]: the pipeline's metric names.
//!
//! Firing (cron, one-shot, misfire policy) is `pressroom-scheduler`'s: it inserts the runs and
//! enqueues their first jobs, which this crate then works through.

pub mod campaigns;
pub mod email;
pub mod images;
pub mod import;
pub mod insights;
pub mod metrics;
pub mod oneoff;
pub mod outbound;
pub mod people;
pub mod pipeline;
pub mod progress;
pub mod reviews;
pub mod tokens;
pub mod uploads;
pub mod worker;

pub use outbound::OutboundConfig;
pub use pipeline::{Pipeline, PublicMedia};
pub use tokens::{NewAccount, PlaintextForbidden, RowSealer, TokenCipher, TokenSlot, save_account};
pub use worker::{WorkerConfig, run_workers};

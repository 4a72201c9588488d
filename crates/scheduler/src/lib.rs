//! Turns triggers into runs and runs into posts.
//!
//! - [`fire`]: the database decides what fires. A tick computes due occurrences with the
//!   database clock and inserts `runs(campaign, fire_key)` with `ON CONFLICT DO NOTHING`;
//!   only inserted runs enqueue work, in the same transaction.
//! - [`ticker`]: tokio-cron-scheduler drives the ticks; it is only a metronome.
//! - [`pipeline`]: the job handlers — generate, render, publish, notify (outbound webhooks,
//!   through [`outbound`]) — and [`worker`], the loop that claims jobs, keeps their leases
//!   alive, and records each outcome.

pub mod clock;
pub mod fire;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod ticker;
pub mod tokens;
pub mod worker;

pub use clock::{Clock, DbClock, ManualClock};
pub use fire::{FireReport, fire_due, trigger_now};
pub use outbound::OutboundConfig;
pub use pipeline::{Pipeline, PublicMedia};
pub use tokens::{NewAccount, PlaintextForbidden, RowSealer, TokenCipher, TokenSlot, save_account};
pub use worker::{WorkerConfig, run_workers};

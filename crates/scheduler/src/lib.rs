//! Turns triggers into runs: the database decides what fires.
//!
//! - [`fire`]: a tick computes due occurrences with the database clock and inserts
//!   `runs(campaign, fire_key)` with `ON CONFLICT DO NOTHING`; only inserted runs enqueue
//!   work, in the same transaction. The jobs themselves are `pressroom-runtime`'s.
//! - [`ticker`]: tokio-cron-scheduler drives the ticks; it is only a metronome.
//! - [`clock`]: the database clock, or a manual one for tests.

pub mod clock;
pub mod fire;
pub mod ticker;

pub use clock::{Clock, DbClock, ManualClock};
pub use fire::{FireReport, fire_due, trigger_now};

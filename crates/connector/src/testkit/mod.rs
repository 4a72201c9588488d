//! The compliance kit (feature `testkit`): scenarios every connector must pass against its own
//! fake platform, and the pieces the scenarios need.
//!
//! # How a connector plugs in
//!
//! 1. The connector's fake (feature `fake` of the connector crate) runs an axum server on
//!    `127.0.0.1:0` that follows the real API, and a small handle type implements
//!    [`FakeControls`]: build the connector pointed at the fake (with a short request timeout,
//!    about 1 s, so [`Fault::AcceptThenHang`] resolves fast), mint a connected account, make a
//!    valid draft, inject [`Fault`]s, expire access tokens, revoke refresh credentials, and count
//!    the posts the platform holds.
//! 2. A test in the connector crate's `tests/` calls [`run_all`] (or single scenarios from
//!    [`scenarios`]):
//!
//! ```ignore
//! #[tokio::test]
//! async fn compliance() {
//!     let fake = connector_x::fake::FakeX::start().await.expect("fake starts");
//!     pressroom_connector::testkit::run_all(&fake).await;
//! }
//! ```
//!
//! The scenarios drive the connector through [`Runner`], a small copy of the runtime's attempt
//! state machine (DESIGN.md "Publishing at most once"), so they check how the connector
//! *classifies* what the platform does, which is the connector's whole job.
//!
//! [`FakeListener`] / [`FakeServer`], [`with_faults`] and [`ChaosHook`] are the scaffolding
//! every fake server shares: loopback port, shutdown on drop, fault journal and controls, seeded
//! chaos.
//!
//! [`media`] serves real JPEG bytes over loopback for platforms that pull media by URL.
//!
//! Fakes that can fail at random also implement [`ChaosControls`], and their crate's tests call
//! [`chaos_soak`]: exactly once under 5xx, 429, lost answers and tokens expiring mid-run.

mod chaos;
mod controls;
pub mod faults;
pub mod media;
mod runner;
pub mod scenarios;
mod server;
mod soak;

pub use chaos::{Chaos, ChaosCounts, ChaosRates, ChaosRoll, counts_of};
pub use controls::{Account, FakeControls, Fault, InsightsControls, KitFeatures, Step};
pub use runner::{Attempt, MemoryCheckpoints, Outcome, RunLog, Runner};
pub use scenarios::run_all;
pub use server::{ChaosHook, FakeListener, FakeServer, Strike, hold_answer, with_faults};
pub use soak::{ChaosControls, chaos_soak};

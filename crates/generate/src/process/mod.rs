//! The local engine as a separate process (`pressroom-engine serve`), as Ollama runs its
//! model runners: libtorch is loaded there and nowhere else, so the daemon and every CLI
//! command start in milliseconds, and a crash or a CUDA out-of-memory inside libtorch costs
//! the generations in flight, not the scheduler, the API or publishing.
//!
//! [`protocol`] is the wire both sides speak; [`EngineProcess`] is the daemon's side: it
//! starts the engine, supervises it (restarts with backoff) and is a [`crate::Generator`].

mod client;
mod options;
pub mod protocol;

pub use client::{EngineLaunch, EngineProcess, SupervisorTimings, engine_binary};
pub use options::EngineOptions;

/// The Prometheus counter of engine restarts (described by `pressroom_runtime::metrics`).
pub const ENGINE_RESTARTS: &str = "pressroom_engine_restarts_total";

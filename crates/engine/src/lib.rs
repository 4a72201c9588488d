//! The engine process: the one part of Pressroom that loads libtorch.
//!
//! The daemon starts `pressroom-engine serve` when it has the `generate` role and talks to it
//! over pipes (`pressroom_generate::process`); a crash or out-of-memory here costs the
//! generations in flight, which the daemon retries once it has restarted the engine.
//! [`DiffusionGenerator`] is the engine inside this process (tests use it directly).

pub mod cli;
pub mod device;
pub mod local;
pub mod options;
pub mod serve;

pub use device::{NoCudaDevice, choose};
pub use local::DiffusionGenerator;
pub use options::engine_config;
pub use pressroom_diffusion::{DeviceChoice, EngineConfig, EngineStats, init_tiny_model};

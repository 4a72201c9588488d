//! The diffusion engine's integration tests, one binary: the tiny model end to end, the
//! engine's limits, and parity with diffusers.

mod engine_limits;
mod parity;
mod tiny_model;

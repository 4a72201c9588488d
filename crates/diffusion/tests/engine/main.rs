//! The diffusion engine's integration tests, one binary: the tiny model end to end, the
//! engine's limits, and parity with diffusers.

mod engine_limits;
mod import_parity;
mod parity;
mod parity_xl;
mod reference;
mod safety_parity;
mod tiny_model;
mod tokenizer_parity;

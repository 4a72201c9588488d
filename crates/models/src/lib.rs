//! Model folders under `<data_dir>/models/NAME`: how they get there (pulled from a Hugging
//! Face-compatible hub, or imported from an A1111/ComfyUI/Civitai single-file checkpoint), what
//! they are (the manifest each one carries: family, dtype, size, source, digest), and which
//! ones exist. Every folder is a diffusers-layout pipeline the engine loads as is.
//!
//! This crate does not link libtorch: it reads and writes safetensors files directly, so the
//! commands that manage models start as fast as the rest of the CLI.

pub mod error;
pub mod family;
pub mod hub;
pub mod import;
pub mod manifest;
pub mod store;

pub use error::{ModelError, Result};
pub use family::{Family, trained_short_side};
pub use manifest::{FileEntry, Manifest, Source};
pub use store::ModelStore;

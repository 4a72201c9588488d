//! Pressroom's Stable Diffusion engine on libtorch (`tch`).
//!
//! Loads a model folder in the Hugging Face diffusers layout (SD 1.x, SD 2.x incl. v-prediction
//! and SD-Turbo), builds the architecture from its config files, and samples images with
//! DDIM, Euler, Euler ancestral, DPM++ 2M Karras or few-step turbo sampling. Numerics follow the
//! reference implementation (the Python `diffusers` package) closely enough that a seed gives
//! the same image within 2/255 per pixel on CPU.
//!
//! Entry points: [`StableDiffusion::load`] and [`StableDiffusion::generate`] for direct use,
//! [`Engine`] for the single engine thread that owns a model and batches requests, and
//! [`init_tiny_model`] to write a tiny random model for demos and tests.

pub mod clip;
mod clip_encoder;
pub mod config;
pub mod device;
pub mod digest_cache;
pub mod engine;
pub mod error;
pub mod image;
pub mod nn;
pub mod pipeline;
pub mod safety;
pub mod scheduler;
pub mod tiny;
pub mod tokenizer;
pub mod unet;
pub mod vae;
pub mod weights;

pub use device::DeviceChoice;
pub use engine::{CancelFlag, Engine, EngineConfig, EngineRequest, EngineStats};
pub use error::DiffusionError;
pub use image::RgbImage;
pub use pipeline::{BatchParams, Prompt, StableDiffusion};
pub use scheduler::{NoiseScheduler, UnknownScheduler};
pub use tiny::init_tiny_model;

/// libtorch's build-time library directory, for run-time diagnostics.
pub fn cuda_available() -> bool {
    tch::Cuda::is_available()
}

//! Image generation for Pressroom: the [`Generator`] trait, the local engine's process
//! ([`EngineProcess`]: libtorch runs in `pressroom-engine`, never in this crate's users),
//! remote backends (OpenAI Images, Stability), the generation cache and the prompt policy.
//!
//! Compose them as layers: `PolicyGenerator::new(CachedGenerator::new(backend, dir)?, policy)`
//! checks the prompt first, then answers repeats from the cache, then runs the backend.

pub mod budget;
pub mod cache;
pub mod device;
pub mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod generator;
pub mod key;
pub mod openai;
pub mod policy;
pub mod process;
pub mod remote;
pub mod request;
pub mod stability;

pub use budget::{Budget, BudgetConfig, BudgetError, pixel_steps};
pub use cache::CachedGenerator;
pub use device::{DeviceSetting, UnknownDevice};
pub use error::GenerateError;
pub use generator::Generator;
pub use key::{generation_key, runtime_identity};
pub use openai::{OpenAiConfig, OpenAiImages};
pub use policy::{BlockedTerm, PolicyGenerator, PromptPolicy};
pub use process::{EngineLaunch, EngineOptions, EngineProcess, engine_binary};
pub use request::{
    GeneratedImage, GenerationRequest, NativeSize, NoiseScheduler, Progress, ProgressFn,
    UnknownScheduler,
};
pub use secrecy::SecretString;
pub use stability::{StabilityConfig, StabilityImages};

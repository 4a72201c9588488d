//! pressroom-engine's tests: the engine inside one process, its wire protocol, and the engine
//! as the daemon's supervised child process (the real `pressroom-engine` binary).

mod local;
mod process;
mod protocol;

use pressroom_generate::{GenerationRequest, NoiseScheduler};

/// A 64² two-step DDIM request: milliseconds on the tiny model.
pub fn small(prompt: &str, seed: u64) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        negative_prompt: None,
        seed,
        steps: 2,
        guidance: 5.0,
        scheduler: NoiseScheduler::Ddim,
        width: 64,
        height: 64,
    }
}

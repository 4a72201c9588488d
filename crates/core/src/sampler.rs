//! The diffusion sampler a campaign or a request picks: one enum for the campaign file, the
//! API, the CLI and the engine (`pressroom-diffusion` re-exports it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which sampler runs the denoising loop (the engine's "scheduler"; not to be confused with
/// the cron one). The noise schedule itself always comes from the model's
/// `scheduler_config.json`; this only picks the update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoiseScheduler {
    #[serde(rename = "ddim")]
    Ddim,
    #[serde(rename = "euler")]
    Euler,
    #[serde(rename = "euler-a")]
    EulerAncestral,
    /// DPM-Solver++ 2M with Karras sigmas.
    #[serde(rename = "dpmpp-2m")]
    DpmPp2m,
    /// Few-step sampling for distilled models (SD-Turbo): Euler ancestral with trailing
    /// timesteps and no classifier-free guidance.
    #[serde(rename = "turbo")]
    Turbo,
}

impl NoiseScheduler {
    pub const ALL: [NoiseScheduler; 5] = [
        Self::Ddim,
        Self::Euler,
        Self::EulerAncestral,
        Self::DpmPp2m,
        Self::Turbo,
    ];

    /// The name used in campaign files, requests and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ddim => "ddim",
            Self::Euler => "euler",
            Self::EulerAncestral => "euler-a",
            Self::DpmPp2m => "dpmpp-2m",
            Self::Turbo => "turbo",
        }
    }

    /// Exactly one of the names (campaign files are strict).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for NoiseScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name was not one of the supported samplers.
#[derive(Debug, thiserror::Error)]
#[error("unknown scheduler `{0}` (expected ddim, euler, euler-a, dpmpp-2m or turbo)")]
pub struct UnknownScheduler(pub String);

/// Lenient (case and surrounding space ignored), for command-line flags.
impl FromStr for NoiseScheduler {
    type Err = UnknownScheduler;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownScheduler(s.to_string()))
    }
}

//! The sampler names users pick from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which sampler runs the denoising loop. The noise schedule itself always comes from the
/// model's `scheduler_config.json`; this only picks the update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SchedulerKind {
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

impl SchedulerKind {
    pub const ALL: [SchedulerKind; 5] = [
        SchedulerKind::Ddim,
        SchedulerKind::Euler,
        SchedulerKind::EulerAncestral,
        SchedulerKind::DpmPp2m,
        SchedulerKind::Turbo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SchedulerKind::Ddim => "ddim",
            SchedulerKind::Euler => "euler",
            SchedulerKind::EulerAncestral => "euler-a",
            SchedulerKind::DpmPp2m => "dpmpp-2m",
            SchedulerKind::Turbo => "turbo",
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name was not one of the supported samplers.
#[derive(Debug, thiserror::Error)]
#[error("unknown scheduler `{0}` (expected ddim, euler, euler-a, dpmpp-2m or turbo)")]
pub struct UnknownScheduler(pub String);

impl FromStr for SchedulerKind {
    type Err = UnknownScheduler;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownScheduler(s.to_string()))
    }
}

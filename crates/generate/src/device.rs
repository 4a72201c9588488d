//! Which device the local engine runs on, as configuration and the CLI name it (the engine
//! process turns it into a libtorch device).
//!
//! One enum for `generation.device` and `pressroom generate --device`: before it, the daemon
//! matched the string with a wildcard, so `"cuda"` silently meant "auto" (CPU when no GPU).

use std::str::FromStr;

use serde::Deserialize;

/// `auto` (CUDA fp16 if present, else CPU fp32), `cpu`, or `cuda` (a GPU or an error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceSetting {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// A device name other than `auto`, `cpu` or `cuda`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not \"auto\", \"cpu\" or \"cuda\"")]
pub struct UnknownDevice(pub String);

impl FromStr for DeviceSetting {
    type Err = UnknownDevice;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(UnknownDevice(other.to_string())),
        }
    }
}

impl DeviceSetting {
    /// The name the configuration and `pressroom-engine --device` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        }
    }
}

impl std::fmt::Display for DeviceSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_named_in_the_error() {
        assert_eq!(
            "auto".parse::<DeviceSetting>().ok(),
            Some(DeviceSetting::Auto)
        );
        assert_eq!(
            "cpu".parse::<DeviceSetting>().ok(),
            Some(DeviceSetting::Cpu)
        );
        assert_eq!(
            "cuda".parse::<DeviceSetting>().ok(),
            Some(DeviceSetting::Cuda)
        );
        let err = "gpu".parse::<DeviceSetting>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("\"gpu\" is not \"auto\", \"cpu\" or \"cuda\"")
        );
    }

    #[test]
    fn names_round_trip() {
        for d in [DeviceSetting::Auto, DeviceSetting::Cpu, DeviceSetting::Cuda] {
            assert_eq!(d.as_str().parse::<DeviceSetting>().ok(), Some(d));
        }
    }
}

//! Which device the local engine runs on, as configuration and the CLI name it.
//!
//! One enum for `generation.device` and `pressroom generate --device`: before it, the daemon
//! matched the string with a wildcard, so `"cuda"` silently meant "auto" (CPU when no GPU).

use std::str::FromStr;

use serde::Deserialize;

use crate::DeviceChoice;

/// `auto` (CUDA fp16 if present, else CPU fp32), `cpu`, or `cuda` (a GPU or an error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceSetting {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// `cuda` was asked for where libtorch sees no CUDA device.
#[derive(Debug, thiserror::Error)]
#[error("cuda was requested but no CUDA device is available (use \"auto\" or \"cpu\")")]
pub struct NoCudaDevice;

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
    /// The device and precision to load the engine with.
    pub fn choose(self) -> Result<DeviceChoice, NoCudaDevice> {
        match self {
            Self::Auto => Ok(DeviceChoice::auto()),
            Self::Cpu => Ok(DeviceChoice::cpu()),
            Self::Cuda if pressroom_diffusion::cuda_available() => Ok(DeviceChoice {
                device: tch::Device::Cuda(0),
                kind: tch::Kind::Half,
            }),
            Self::Cuda => Err(NoCudaDevice),
        }
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
    fn cuda_without_a_gpu_is_an_error_not_the_cpu() {
        let chosen = DeviceSetting::Cuda.choose();
        if pressroom_diffusion::cuda_available() {
            assert!(chosen.is_ok_and(|c| c.device.is_cuda()));
        } else {
            assert!(chosen.is_err(), "cuda must not fall back to the CPU");
        }
        assert!(
            !DeviceSetting::Cpu
                .choose()
                .is_ok_and(|c| c.device.is_cuda())
        );
    }
}

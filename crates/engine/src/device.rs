//! `generation.device` as libtorch sees it.

use pressroom_diffusion::DeviceChoice;
use pressroom_generate::DeviceSetting;

/// `cuda` was asked for where libtorch sees no CUDA device.
#[derive(Debug, thiserror::Error)]
#[error("cuda was requested but no CUDA device is available (use \"auto\" or \"cpu\")")]
pub struct NoCudaDevice;

/// The device and precision to load the engine with: `auto` is CUDA fp16 when a GPU is
/// present, else CPU fp32; `cuda` is a GPU or an error, never a silent CPU.
pub fn choose(setting: DeviceSetting) -> Result<DeviceChoice, NoCudaDevice> {
    match setting {
        DeviceSetting::Auto => Ok(DeviceChoice::auto()),
        DeviceSetting::Cpu => Ok(DeviceChoice::cpu()),
        DeviceSetting::Cuda if pressroom_diffusion::cuda_available() => Ok(DeviceChoice {
            device: tch::Device::Cuda(0),
            kind: tch::Kind::Half,
        }),
        DeviceSetting::Cuda => Err(NoCudaDevice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_without_a_gpu_is_an_error_not_the_cpu() {
        let chosen = choose(DeviceSetting::Cuda);
        if pressroom_diffusion::cuda_available() {
            assert!(chosen.is_ok_and(|c| c.device.is_cuda()));
        } else {
            assert!(chosen.is_err(), "cuda must not fall back to the CPU");
        }
        assert!(!choose(DeviceSetting::Cpu).is_ok_and(|c| c.device.is_cuda()));
    }
}

//! Device and precision choice: CUDA in half precision when a GPU is present, CPU fp32 else.

use tch::{Device, Kind};

/// Where and in which precision to run.
#[derive(Clone, Copy, Debug)]
pub struct DeviceChoice {
    pub device: Device,
    /// Precision of the UNet and text encoder.
    pub kind: Kind,
}

impl DeviceChoice {
    /// CUDA:0 with fp16 if available, otherwise CPU fp32. `PRESSROOM_DEVICE=cpu|cuda` and
    /// `PRESSROOM_DTYPE=fp32|fp16|bf16` override, for benchmarking and debugging.
    pub fn auto() -> Self {
        let want = std::env::var("PRESSROOM_DEVICE").unwrap_or_default();
        let device = match want.as_str() {
            "cpu" => Device::Cpu,
            _ => Device::cuda_if_available(),
        };
        let default_kind = if device.is_cuda() {
            Kind::Half
        } else {
            Kind::Float
        };
        let kind = match std::env::var("PRESSROOM_DTYPE").as_deref() {
            Ok("fp32") => Kind::Float,
            Ok("fp16") => Kind::Half,
            Ok("bf16") => Kind::BFloat16,
            _ => default_kind,
        };
        Self { device, kind }
    }

    pub fn cpu() -> Self {
        Self {
            device: Device::Cpu,
            kind: Kind::Float,
        }
    }

    pub fn describe(&self) -> String {
        format!("{:?}/{:?}", self.device, self.kind)
    }

    /// The device family (`cpu`, `cuda`, `mps`, `vulkan`): what changes the numerics. GPU
    /// indices do not, so `cuda:0` and `cuda:1` share a name.
    pub fn device_name(&self) -> &'static str {
        match self.device {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
            Device::Mps => "mps",
            Device::Vulkan => "vulkan",
        }
    }

    /// Waits until every kernel queued on this device has finished. CUDA kernels run
    /// asynchronously, so a clock read (timings, progress) right after launching work measures
    /// the launch, not the work; call this first. No-op on CPU.
    pub fn synchronize(&self) {
        synchronize(self.device);
    }

    /// The run precision as people write it (`fp32`, `fp16`, `bf16`).
    pub fn dtype_name(&self) -> &'static str {
        match self.kind {
            Kind::Float => "fp32",
            Kind::Half => "fp16",
            Kind::BFloat16 => "bf16",
            Kind::Double => "fp64",
            _ => "other",
        }
    }
}

/// See [`DeviceChoice::synchronize`].
pub fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

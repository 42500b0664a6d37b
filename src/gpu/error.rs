//! Typed errors of the WebGPU engine. Nothing in `gpu` panics on a device, limit or shader problem:
//! each becomes a `GpuError`, and the backend choice turns it into a reason for the CPU fallback.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter matched the request (no WebGPU in the browser, no Vulkan/Metal/DX12 driver, or a
    /// backend mask with nothing in it).
    #[error("no WebGPU adapter: {0}")]
    NoAdapter(String),

    /// Only a software adapter was found (lavapipe, SwiftShader, WARP: `DeviceType::Cpu` or
    /// `isFallbackAdapter`), and the caller did not ask to use it anyway.
    #[error("only a software GPU adapter is available ({0}); it is slower than the CPU path")]
    SoftwareAdapter(String),

    /// `requestDevice` failed.
    #[error("could not open the GPU device: {0}")]
    RequestDevice(String),

    /// A buffer, binding, dispatch or requested limit needs more than the device allows.
    #[error("{what} needs {needed}, but the device allows at most {limit}")]
    LimitsExceeded { what: String, needed: u64, limit: u64 },

    /// The device was lost (driver reset, browser reclaimed the GPU, `destroy`): recreate the engine.
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),

    /// A shader failed to compile or a pipeline failed to build.
    #[error("shader error: {0}")]
    Shader(String),

    /// Any other validation error reported by the device (a bug in the engine, reported, not hidden).
    #[error("GPU validation error: {0}")]
    Validation(String),

    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),

    /// Mapping the result buffer failed.
    #[error("reading the results back failed: {0}")]
    Readback(String),

    /// The model description or the input is wrong (same messages as the CPU path).
    #[error(transparent)]
    Model(#[from] crate::Error),
}

impl GpuError {
    pub(crate) fn limit(what: impl Into<String>, needed: u64, limit: u64) -> Self {
        GpuError::LimitsExceeded { what: what.into(), needed, limit }
    }

    /// True when recreating the engine (new device) may help.
    pub fn is_device_lost(&self) -> bool {
        matches!(self, GpuError::DeviceLost(_))
    }
}

impl From<wgpu::Error> for GpuError {
    fn from(e: wgpu::Error) -> Self {
        match e {
            wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory(e.to_string()),
            wgpu::Error::Validation { description, .. } => GpuError::Validation(description),
            wgpu::Error::Internal { description, .. } => GpuError::Validation(description),
        }
    }
}

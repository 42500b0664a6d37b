//! The WebGPU inference engine: the same model description (config + safetensors) and the same
//! `Inspection` as the candle path, computed by WGSL kernels (shaders/) through wgpu — the
//! browser's WebGPU on wasm, Vulkan/Metal/DX12 natively.
//!
//! ```text
//! Backend::load(config, bytes, Preference::Auto)   hardware adapter → Backend::Gpu(engine)
//!                                                   none / software / device error → Backend::Cpu { reason }
//! backend.inspect(&input_chw, &options).await     → Inspection (same as crate::inspect)
//! ```
//! Natively, wrap the futures with `pollster::block_on` (or use `Engine::inspect_blocking`).
mod device;
mod engine;
mod error;
mod kernels;
mod params;
mod plan;
mod weights;

pub use device::{probe_adapter, AdapterSummary, DeviceOptions};
pub use engine::{Engine, KernelTiming, TimingSource};
pub use error::GpuError;
pub use kernels::Kernel;

use crate::inspect::{InspectOptions, Inspection};
use crate::model::{io, Model, ModelConfig};

/// Which executor to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Preference {
    /// WebGPU on a hardware adapter, else the CPU with the reason.
    #[default]
    Auto,
    /// WebGPU on any adapter, software ones included (lavapipe, SwiftShader); errors are returned.
    WebGpu,
    /// The candle CPU path.
    Cpu,
}

impl std::str::FromStr for Preference {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Preference::Auto),
            "gpu" | "webgpu" => Ok(Preference::WebGpu),
            "cpu" => Ok(Preference::Cpu),
            other => Err(format!("unknown backend `{other}` (expected auto, gpu or cpu)")),
        }
    }
}

/// The executor chosen for a model.
pub enum Backend {
    Gpu(Box<Engine>),
    Cpu {
        model: Box<Model>,
        /// Why not the GPU (shown by the page).
        reason: String,
    },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Backend {
    /// Load a model on the preferred executor with default device options.
    pub async fn load(config: &ModelConfig, safetensors: &[u8], preference: Preference) -> Result<Backend, GpuError> {
        Self::load_with(config, safetensors, preference, DeviceOptions::default()).await
    }

    /// `Auto` falls back to the CPU on any GPU problem (no adapter, a software adapter, a device,
    /// limit or shader error) and keeps the reason; `Gpu` returns those errors; a model error
    /// (bad config or weights) is returned whatever the preference.
    pub async fn load_with(
        config: &ModelConfig,
        safetensors: &[u8],
        preference: Preference,
        mut opts: DeviceOptions,
    ) -> Result<Backend, GpuError> {
        let cpu = |reason: String| -> Result<Backend, GpuError> {
            let model = io::from_bytes(config, safetensors, &candle_core::Device::Cpu)?;
            Ok(Backend::Cpu { model: Box::new(model), reason })
        };
        match preference {
            Preference::Cpu => cpu("the CPU was requested".into()),
            Preference::WebGpu => {
                opts.allow_software = true;
                Ok(Backend::Gpu(Box::new(Engine::new(config, safetensors, &opts).await?)))
            }
            Preference::Auto => match Engine::new(config, safetensors, &opts).await {
                Ok(e) => Ok(Backend::Gpu(Box::new(e))),
                Err(GpuError::Model(e)) => Err(GpuError::Model(e)),
                Err(e) => cpu(e.to_string()),
            },
        }
    }

    pub async fn inspect(&self, input_chw: &[f32], options: &InspectOptions) -> Result<Inspection, GpuError> {
        match self {
            Backend::Gpu(e) => e.inspect(input_chw, options).await,
            Backend::Cpu { model, .. } => Ok(crate::inspect::inspect(model, input_chw, options)?),
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, Backend::Gpu(_))
    }

    /// One line for the page / CLI: where the model runs, and why when it is not the GPU.
    pub fn describe(&self) -> String {
        match self {
            Backend::Gpu(e) => format!("WebGPU on {}", e.adapter()),
            Backend::Cpu { reason, .. } => format!("CPU (candle): {reason}"),
        }
    }
}

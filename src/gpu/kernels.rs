//! The compute pipelines: one WGSL file per op family (shaders/), a few shape-generic entry points
//! (shapes travel in a uniform block), every pipeline created once when the model loads.
use super::error::GpuError;
use super::params::{self, KernelParams};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");
const CONV: &str = include_str!("../../shaders/conv.wgsl");
const DEPTHWISE: &str = include_str!("../../shaders/depthwise.wgsl");
const LINEAR: &str = include_str!("../../shaders/linear.wgsl");
const NORM: &str = include_str!("../../shaders/norm.wgsl");
const POOL: &str = include_str!("../../shaders/pool.wgsl");
const SE: &str = include_str!("../../shaders/se.wgsl");
const GATTA: &str = include_str!("../../shaders/gatta.wgsl");
const ATTENTION: &str = include_str!("../../shaders/attention.wgsl");
const SOFTMAX: &str = include_str!("../../shaders/softmax.wgsl");

/// Every entry point the engine dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kernel {
    ConvGemm,
    Conv1x1Vec4,
    Depthwise3x3,
    Linear,
    LayerNorm,
    MaxPool,
    AvgPool,
    SeScale,
    GlobalQuery,
    Agreement,
    AssembleTokens,
    AttnScores,
    AttnWeightedSum,
    Softmax,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Module {
    Conv,
    Depthwise,
    Linear,
    Norm,
    Pool,
    Se,
    Gatta,
    Attention,
    Softmax,
}

const MODULES: [Module; 9] = [
    Module::Conv,
    Module::Depthwise,
    Module::Linear,
    Module::Norm,
    Module::Pool,
    Module::Se,
    Module::Gatta,
    Module::Attention,
    Module::Softmax,
];

impl Module {
    fn name(self) -> &'static str {
        match self {
            Module::Conv => "conv.wgsl",
            Module::Depthwise => "depthwise.wgsl",
            Module::Linear => "linear.wgsl",
            Module::Norm => "norm.wgsl",
            Module::Pool => "pool.wgsl",
            Module::Se => "se.wgsl",
            Module::Gatta => "gatta.wgsl",
            Module::Attention => "attention.wgsl",
            Module::Softmax => "softmax.wgsl",
        }
    }
    /// Source with what it shares: the constants and its `struct Params` (generated from
    /// gpu::params), then the preludes it uses (activations, reductions).
    fn source(self) -> String {
        let (body, params, epilogue, reduce) = match self {
            Module::Conv => (CONV, params::ConvParams::wgsl(), true, false),
            Module::Depthwise => (DEPTHWISE, params::DepthwiseParams::wgsl(), true, false),
            Module::Linear => (LINEAR, params::LinearParams::wgsl(), true, true),
            Module::Norm => (NORM, params::NormParams::wgsl(), false, false),
            Module::Pool => (POOL, params::PoolParams::wgsl(), false, true),
            Module::Se => (SE, params::SeParams::wgsl(), false, false),
            Module::Gatta => (GATTA, params::GattaParams::wgsl(), false, false),
            Module::Attention => (ATTENTION, params::AttentionParams::wgsl(), false, true),
            Module::Softmax => (SOFTMAX, params::SoftmaxParams::wgsl(), false, true),
        };
        let mut src = params::wgsl_constants() + &params;
        for (prelude, used) in [(COMMON, epilogue), (REDUCE, reduce)] {
            if used {
                src.push_str(prelude);
                src.push('\n');
            }
        }
        src + body
    }
}

/// A storage binding: (binding index, read-only).
type Slot = (u32, bool);

impl Kernel {
    pub const ALL: [Kernel; 14] = [
        Kernel::ConvGemm,
        Kernel::Conv1x1Vec4,
        Kernel::Depthwise3x3,
        Kernel::Linear,
        Kernel::LayerNorm,
        Kernel::MaxPool,
        Kernel::AvgPool,
        Kernel::SeScale,
        Kernel::GlobalQuery,
        Kernel::Agreement,
        Kernel::AssembleTokens,
        Kernel::AttnScores,
        Kernel::AttnWeightedSum,
        Kernel::Softmax,
    ];

    fn module(self) -> Module {
        match self {
            Kernel::ConvGemm | Kernel::Conv1x1Vec4 => Module::Conv,
            Kernel::Depthwise3x3 => Module::Depthwise,
            Kernel::Linear => Module::Linear,
            Kernel::LayerNorm => Module::Norm,
            Kernel::MaxPool | Kernel::AvgPool => Module::Pool,
            Kernel::SeScale => Module::Se,
            Kernel::GlobalQuery | Kernel::Agreement => Module::Gatta,
            Kernel::AssembleTokens | Kernel::AttnScores | Kernel::AttnWeightedSum => Module::Attention,
            Kernel::Softmax => Module::Softmax,
        }
    }

    pub fn entry(self) -> &'static str {
        match self {
            Kernel::ConvGemm => "conv_gemm",
            Kernel::Conv1x1Vec4 => "conv1x1_vec4",
            Kernel::Depthwise3x3 => "depthwise3x3",
            Kernel::Linear => "linear",
            Kernel::LayerNorm => "layer_norm",
            Kernel::MaxPool => "max_pool",
            Kernel::AvgPool => "avg_pool",
            Kernel::SeScale => "se_scale",
            Kernel::GlobalQuery => "global_query",
            Kernel::Agreement => "agreement",
            Kernel::AssembleTokens => "assemble_tokens",
            Kernel::AttnScores => "attn_scores",
            Kernel::AttnWeightedSum => "attn_weighted_sum",
            Kernel::Softmax => "softmax_rows",
        }
    }

    /// The storage bindings of the entry point (binding 0 is always the uniform parameters), in the
    /// order the engine passes buffers.
    pub fn slots(self) -> &'static [Slot] {
        const R: bool = true;
        const W: bool = false;
        match self {
            // x, wt, chan, res, gain, y
            Kernel::ConvGemm => &[(1, R), (2, R), (3, R), (4, R), (5, R), (6, W)],
            Kernel::Conv1x1Vec4 => &[(7, R), (2, R), (3, R), (4, R), (5, R), (6, W)],
            // x, wt, bias, y
            Kernel::Depthwise3x3 => &[(1, R), (2, R), (3, R), (4, W)],
            Kernel::Linear => &[(1, R), (2, R), (3, R), (4, R), (5, R), (6, W)],
            // x, weight+bias, y
            Kernel::LayerNorm => &[(1, R), (2, R), (3, W)],
            Kernel::MaxPool | Kernel::AvgPool => &[(1, R), (2, W)],
            // x, gate, y
            Kernel::SeScale => &[(1, R), (2, R), (3, W)],
            // queries, weights, qbar
            Kernel::GlobalQuery => &[(1, R), (2, R), (3, W)],
            // act, wk, alpha, agree, gain
            Kernel::Agreement => &[(4, R), (5, R), (6, R), (7, W), (8, W)],
            // cls, feat, tokens
            Kernel::AssembleTokens => &[(1, R), (2, R), (3, W)],
            // q, k, scores
            Kernel::AttnScores => &[(4, R), (5, R), (6, W)],
            // attn, v, o
            Kernel::AttnWeightedSum => &[(7, R), (8, R), (9, W)],
            Kernel::Softmax => &[(1, R), (2, W)],
        }
    }

    /// Bytes of workgroup memory the entry point declares (checked against the device limit).
    pub fn workgroup_bytes(self) -> u32 {
        match self {
            Kernel::ConvGemm | Kernel::Conv1x1Vec4 => 2 * 128 * 16,
            Kernel::Linear | Kernel::AvgPool | Kernel::AttnWeightedSum | Kernel::Softmax => 64 * 4,
            _ => 0,
        }
    }

    pub fn invocations(self) -> u32 {
        64
    }
}

pub(crate) struct Pipelines {
    pub pipelines: Vec<(wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
}

impl Pipelines {
    pub fn get(&self, k: Kernel) -> &(wgpu::ComputePipeline, wgpu::BindGroupLayout) {
        &self.pipelines[Kernel::ALL.iter().position(|&x| x == k).expect("every kernel is in ALL")]
    }

    /// Compile every shader module and build every pipeline; errors come back typed.
    pub async fn create(device: &wgpu::Device, limits: &wgpu::Limits) -> Result<Self, GpuError> {
        for k in Kernel::ALL {
            let storage = k.slots().len() as u32;
            if storage > limits.max_storage_buffers_per_shader_stage {
                return Err(GpuError::limit(
                    format!("kernel {} (storage buffers per stage)", k.entry()),
                    storage as u64,
                    limits.max_storage_buffers_per_shader_stage as u64,
                ));
            }
            if k.workgroup_bytes() > limits.max_compute_workgroup_storage_size {
                return Err(GpuError::limit(
                    format!("kernel {} (workgroup memory)", k.entry()),
                    k.workgroup_bytes() as u64,
                    limits.max_compute_workgroup_storage_size as u64,
                ));
            }
            if k.invocations() > limits.max_compute_invocations_per_workgroup {
                return Err(GpuError::limit(
                    format!("kernel {} (invocations per workgroup)", k.entry()),
                    k.invocations() as u64,
                    limits.max_compute_invocations_per_workgroup as u64,
                ));
            }
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let modules: Vec<wgpu::ShaderModule> = MODULES
            .iter()
            .map(|m| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(m.name()),
                    source: wgpu::ShaderSource::Wgsl(m.source().into()),
                })
            })
            .collect();
        let mut pipelines = Vec::new();
        for k in Kernel::ALL {
            let mut entries = vec![wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: false, min_binding_size: None },
                count: None,
            }];
            for &(binding, read_only) in k.slots() {
                entries.push(wgpu::BindGroupLayoutEntry {
                    binding,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                });
            }
            let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(k.entry()), entries: &entries });
            let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(k.entry()),
                bind_group_layouts: &[Some(&bgl)],
                immediate_size: 0,
            });
            let module = &modules[MODULES.iter().position(|&m| m == k.module()).expect("module listed")];
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(k.entry()),
                layout: Some(&layout),
                module,
                entry_point: Some(k.entry()),
                compilation_options: Default::default(),
                cache: None,
            });
            pipelines.push((pipeline, bgl));
        }
        if let Some(e) = scope.pop().await {
            return Err(GpuError::Shader(e.to_string()));
        }
        Ok(Pipelines { pipelines })
    }
}

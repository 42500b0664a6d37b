//! One model description (config.json + safetensors) built into a candle model that runs the
//! GAttANet passes. The same description drives the WebGPU engine.
pub mod class_attention;
pub mod config;
pub mod conv_groups;
pub mod gatta;
pub mod graph;
pub mod head;
pub mod imagenet_resnet;
pub mod io;
pub mod layers;
pub mod network;
pub mod patchconv;
pub mod resnet;
pub mod toy;

use candle_core::{DType, Device, Result as CResult, Tensor, Var};
use candle_nn::VarBuilder;

pub use config::{AttentionConfig, BackboneConfig, HeadConfig, ModelConfig, QueryPooling, MAX_PASSES};
pub use graph::{Graph, SiteInfo};
pub use layers::PassContext;

use gatta::GAttANet;
use network::Network;

/// Collects attended activations during one pass and applies the gains of the previous pass.
/// The network calls `site` at every node whose output is a candidate site, in network order.
pub struct Tap<'a> {
    /// For every candidate site: its index among the attended layers, if attended.
    attended: &'a [Option<usize>],
    gains: Option<&'a [Tensor]>,
    /// The (modulated) activation of each attended layer in this pass.
    pub acts: Vec<Tensor>,
    /// The candidate site whose output to keep (attended or not), and its output.
    keep: Option<usize>,
    kept: Option<Kept>,
}

/// A site's output kept for its gradient: candle keeps the gradients of variables only, so a
/// zero variable is added to the output (the same values) and its gradient is the output's.
pub struct Kept {
    pub act: Tensor,
    pub probe: Var,
}

impl<'a> Tap<'a> {
    /// The output of candidate site `i`, modulated if it is attended and gains apply.
    pub fn site(&mut self, i: usize, x: Tensor) -> CResult<Tensor> {
        let Some(l) = self.attended[i] else { return self.keep(i, x) };
        let x = match self.gains {
            Some(g) => gatta::modulate(&x, &g[l])?,
            None => x,
        };
        let x = self.keep(i, x)?;
        self.acts.push(x.clone());
        Ok(x)
    }

    fn keep(&mut self, i: usize, x: Tensor) -> CResult<Tensor> {
        if self.keep != Some(i) {
            return Ok(x);
        }
        let probe = Var::zeros(x.shape(), x.dtype(), x.device())?;
        let x = (x + probe.as_tensor())?;
        self.kept = Some(Kept { act: x.clone(), probe });
        Ok(x)
    }
}

/// Everything one pass produced.
pub struct PassOutput {
    pub logits: Tensor,
    /// Activations of the attended layers (after this pass's modulation).
    pub acts: Vec<Tensor>,
    /// Gains applied in this pass (None in pass 0).
    pub gains: Option<Vec<Tensor>>,
    /// Global query (B, d) and agreement per attended layer, from this pass's activations.
    pub query: Option<Tensor>,
    pub agreement: Vec<Tensor>,
    /// Class-attention weights (B, heads, 1 + N).
    pub class_attention: Option<Tensor>,
    /// The output of the site `RunOptions::keep` names.
    pub kept: Option<Kept>,
}

/// How to run the passes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub passes: usize,
    /// α per attended layer; None uses the learned α (and keeps it differentiable, for training).
    pub alphas: Option<Vec<f32>>,
    pub train: bool,
    /// Compute the agreement of the last pass too (it drives nothing; inspection shows it).
    pub final_maps: bool,
    /// Keep the output of this candidate site in every pass (`PassOutput::kept`), e.g. for
    /// Grad-CAM at a layer that is not attended.
    pub keep: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub config: ModelConfig,
    graph: Graph,
    network: Network,
    gatta: Option<GAttANet>,
    sites: Vec<SiteInfo>,
    device: Device,
}

impl Model {
    /// Build from a validated config; tensor names follow `vb`'s paths (docs/model-format.md).
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> CResult<Self> {
        let graph = Graph::new(config);
        let network = Network::new(&graph, config.stat_sets(), &vb)?;
        let sites = graph.attended_sites();
        let gatta = config.attention.as_ref().map(|att| GAttANet::new(vb.pp("gatta"), att, &sites)).transpose()?;
        Ok(Model { config: config.clone(), graph, network, gatta, sites, device: vb.device().clone() })
    }

    /// The network this model runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The attended layers, in network order.
    pub fn attended_sites(&self) -> &[SiteInfo] {
        &self.sites
    }

    pub fn gatta(&self) -> Option<&GAttANet> {
        self.gatta.as_ref()
    }

    /// The learned α of every attended layer.
    pub fn learned_alphas(&self) -> CResult<Vec<f32>> {
        self.gatta.iter().flat_map(|g| g.layers.iter()).map(|l| layers::scalar(&l.alpha)).collect()
    }

    /// Run T passes on a batch x (B, C, H, W): pass 0 plain, pass t modulated by the agreement
    /// of pass t-1. Without GAttANet a single plain pass runs whatever `passes` says.
    pub fn run(&self, x: &Tensor, opts: &RunOptions) -> CResult<Vec<PassOutput>> {
        let passes = if self.gatta.is_some() { opts.passes.max(1) } else { 1 };
        let alphas: Vec<Tensor> = match (&self.gatta, &opts.alphas) {
            (None, _) => Vec::new(),
            (Some(g), None) => g.layers.iter().map(|l| l.alpha.clone()).collect(),
            (Some(_), Some(a)) => a.iter().map(|&v| Tensor::new(&[v], &self.device)).collect::<CResult<_>>()?,
        };
        let mut outputs: Vec<PassOutput> = Vec::with_capacity(passes);
        let mut gains: Option<Vec<Tensor>> = None;
        for t in 0..passes {
            let mut tap = Tap { attended: &self.graph.attended, gains: gains.as_deref(), acts: Vec::new(), keep: opts.keep, kept: None };
            let out = self.network.forward(x, PassContext { pass: t, train: opts.train }, &mut tap)?;
            let (acts, kept) = (tap.acts, tap.kept);
            let last = t + 1 == passes;
            let (query, agreement) = match &self.gatta {
                Some(g) if !last || opts.final_maps => {
                    let q = g.global_query(&acts)?;
                    let maps = acts.iter().enumerate().map(|(l, a)| g.agreement(l, a, &q)).collect::<CResult<Vec<_>>>()?;
                    (Some(q), maps)
                }
                _ => (None, Vec::new()),
            };
            let applied = gains.take();
            if !last {
                let g = self.gatta.as_ref().expect("several passes only with GAttANet");
                gains = Some(agreement.iter().zip(&alphas).map(|(a, alpha)| g.gain(a, alpha)).collect::<CResult<_>>()?);
            }
            outputs.push(PassOutput { logits: out.logits, acts, gains: applied, query, agreement, class_attention: out.attention, kept });
        }
        Ok(outputs)
    }

    /// Multiply-adds of one plain pass for one image (backbone + head).
    pub fn macs_per_pass(&self) -> u64 {
        self.graph.macs()
    }

    /// Extra multiply-adds GAttANet adds per pass: query pooling, agreement, modulation.
    pub fn attention_macs_per_pass(&self) -> u64 {
        let d = self.config.attention.as_ref().map_or(0, |a| a.dim) as u64;
        self.sites
            .iter()
            .map(|s| {
                let c = s.channels as u64;
                let n = s.spatial.map_or(1, |[h, w]| (h * w) as u64);
                2 * c * d + 2 * c * n // Qᵀ·mean(a), K·q̄ ; Σ_c w_c a_c and the modulation
            })
            .sum()
    }

    /// Input tensor (1, C, H, W) from a preprocessed CHW buffer.
    pub fn input_tensor(&self, chw: &[f32]) -> CResult<Tensor> {
        let [h, w] = self.config.input.size;
        Tensor::from_slice(chw, (1, self.config.input.channels, h, w), &self.device)
    }
}

/// The f32 dtype everything computes in.
pub const DTYPE: DType = DType::F32;

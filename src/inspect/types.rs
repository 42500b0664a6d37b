//! The one result type. The CLI writes it as `inspection.json`, the page draws it,
//! parity tests compare two of them. Plain data only: no tensors, no model code.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// A conv layer: maps are H×W (row-major), one value per spatial position.
    Conv,
    /// A dense layer: maps have one value per unit (for the logit layer: per class).
    Dense,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// Model name from its config.
    pub model: String,
    pub classes: Vec<String>,
    /// Model input size [height, width].
    pub input_size: [usize; 2],
    /// The options the passes were run with (after defaults were applied).
    pub options: InspectOptions,
    /// α per attended layer (learned value × options), in site order.
    pub alphas: Vec<LayerAlpha>,
    /// Pass 0 is the plain feed-forward pass; pass t > 0 is modulated by the agreement of pass t-1.
    pub passes: Vec<Pass>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerAlpha {
    pub name: String,
    /// The learned α of the layer.
    pub learned: f32,
    /// The α actually used: learned × alpha_scale, or the per-layer override.
    pub used: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    pub index: usize,
    pub logits: Vec<f32>,
    pub probabilities: Vec<f32>,
    /// Top-k classes, most probable first.
    pub top: Vec<TopClass>,
    /// The global query q_avg computed from this pass's activations (length d); empty without GAttANet.
    pub global_query: Vec<f32>,
    /// One entry per attended layer, in network order.
    pub layers: Vec<LayerMaps>,
    /// Class-attention weights of the aggregation head in this pass, or None for other heads.
    pub aggregation: Option<Aggregation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopClass {
    pub class: String,
    pub index: usize,
    pub p: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMaps {
    pub name: String,
    pub kind: LayerKind,
    /// [H, W] for conv layers, [C] for dense layers.
    pub shape: Vec<usize>,
    /// Agreement g = key · global query, computed from this pass's activations.
    /// It drives the modulation of the next pass.
    pub agreement: Vec<f32>,
    /// The gain 1 + α·g(previous pass) that multiplied this layer's activations during this pass
    /// (all ones in pass 0).
    pub gain: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregation {
    pub heads: usize,
    /// Patch grid [H, W].
    pub grid: [usize; 2],
    /// Per head, the class token's attention over the patches (row-major H×W).
    /// Together with `self_weight` each head's weights sum to 1.
    pub weights: Vec<Vec<f32>>,
    /// Per head, the weight the class token gives to itself.
    pub self_weight: Vec<f32>,
}

/// How to run the passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectOptions {
    /// Number of passes T (≥ 1). None: the model's configured T.
    pub passes: Option<usize>,
    /// Multiplies every learned α (0 switches the modulation off while still computing maps).
    pub alpha_scale: f32,
    /// Absolute α for named layers, applied instead of learned × scale.
    pub alpha_overrides: Vec<(String, f32)>,
    /// false: a single plain pass (the backbone alone); agreement maps are still reported.
    pub attention: bool,
    /// How many classes to list in `top`.
    pub top_k: usize,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions { passes: None, alpha_scale: 1.0, alpha_overrides: Vec::new(), attention: true, top_k: 5 }
    }
}

impl Inspection {
    /// The final prediction (top-1 of the last pass).
    pub fn prediction(&self) -> Option<&TopClass> {
        self.passes.last().and_then(|p| p.top.first())
    }

    /// Indices (into each pass's `layers`) of the attended layers of one kind, in network order.
    pub fn layers_of_kind(&self, kind: LayerKind) -> Vec<usize> {
        let layers = self.passes.first().map_or(&[][..], |p| &p.layers);
        layers.iter().enumerate().filter(|(_, l)| l.kind == kind).map(|(i, _)| i).collect()
    }
}

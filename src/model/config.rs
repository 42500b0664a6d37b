//! `config.json`: the full description of a model. Weights alone never decide the architecture.
use serde::{Deserialize, Serialize};

use super::graph::{Graph, SiteInfo};
use crate::error::{Error, Result};
use crate::preprocess::InputSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    pub classes: Vec<String>,
    pub input: InputSpec,
    pub backbone: BackboneConfig,
    pub head: HeadConfig,
    /// GAttANet on top of the backbone; absent or null for the plain network.
    #[serde(default)]
    pub attention: Option<AttentionConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackboneConfig {
    /// The paper's toy CNN: three conv3x3+BN+ReLU layers, max-pool 3/2 after the first two.
    Toy { channels: [usize; 3] },
    /// CIFAR ResNet (He et al. 2016): depth = 6n+2, stage widths w, 2w, 4w.
    Resnet { depth: usize, width: usize },
    /// ImageNet ResNet (torchvision's layout): 7×7/2 stem, 3×3/2 max-pool, four stages of widths
    /// w, 2w, 4w, 8w; basic blocks for depth 18 and 34, bottlenecks (×4) for 50, 101 and 152.
    ImagenetResnet {
        depth: usize,
        #[serde(default = "default_imagenet_width")]
        width: usize,
    },
    /// PatchConvNet-style columnar trunk: a strided conv stem, then `depth` blocks at constant width.
    Patchconv {
        dim: usize,
        depth: usize,
        /// Total stem downsampling: 1, 2, 4, 8 or 16.
        stem_stride: usize,
        /// LayerScale initial value of every block.
        #[serde(default = "default_init_scale")]
        init_scale: f64,
        /// Squeeze-excitation reduction ratio (0.25 in PatchConvNet).
        #[serde(default = "default_se_ratio")]
        se_ratio: f64,
    },
    /// Conv groups with patch whitening (the fast CIFAR-10 recipes' trunk): a frozen 3x3
    /// patch-whitening conv, then per width a group conv → BN → GELU → max-pool 2 → conv → BN →
    /// GELU, then `blocks` residual pairs of such convs at the last width.
    ConvGroups {
        /// Eigenvector pairs of the whitening conv: it has 2 × whitening channels (±v).
        whitening: usize,
        widths: Vec<usize>,
        #[serde(default)]
        blocks: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HeadConfig {
    /// Global average pooling + linear classifier.
    AvgLinear,
    /// Flatten + dense(hidden)+ReLU + dense(classes): the toy CNN's two dense layers.
    Mlp { hidden: usize },
    /// PatchConvNet attention-based aggregation: a learned class token attends over all patches.
    ClassAttention {
        heads: usize,
        #[serde(default = "default_mlp_ratio")]
        mlp_ratio: usize,
        #[serde(default = "default_init_scale")]
        init_scale: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryPooling {
    /// Average within each layer, then across layers: every layer counts equally.
    LayerBalanced,
    /// One mean over every position of every layer: large early maps dominate.
    Flat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionConfig {
    /// Key/query dimension d.
    #[serde(default = "default_dim")]
    pub dim: usize,
    #[serde(default = "default_pooling")]
    pub pooling: QueryPooling,
    /// Number of passes T (pass 1 plain, passes 2..T modulated).
    #[serde(default = "default_passes")]
    pub passes: usize,
    #[serde(default)]
    pub alpha_init: f64,
    /// Attended layers by name; absent: every layer the architecture offers.
    #[serde(default)]
    pub layers: Option<Vec<String>>,
    /// Divide the agreement by sqrt(d).
    #[serde(default)]
    pub scale_by_sqrt_d: bool,
    /// Gain 1 + α·tanh(g) instead of 1 + α·g (bounded, for stability).
    #[serde(default)]
    pub bounded: bool,
    /// Loss weight on each earlier pass (the final pass always has weight 1).
    #[serde(default)]
    pub aux_loss_weight: f64,
}

fn default_init_scale() -> f64 {
    1e-4
}
fn default_imagenet_width() -> usize {
    64
}
fn default_se_ratio() -> f64 {
    0.25
}
fn default_mlp_ratio() -> usize {
    3
}
fn default_dim() -> usize {
    16
}
fn default_pooling() -> QueryPooling {
    QueryPooling::LayerBalanced
}
fn default_passes() -> usize {
    2
}

impl Default for AttentionConfig {
    fn default() -> Self {
        AttentionConfig {
            dim: default_dim(),
            pooling: default_pooling(),
            passes: default_passes(),
            alpha_init: 0.0,
            layers: None,
            scale_by_sqrt_d: false,
            bounded: false,
            aux_loss_weight: 0.0,
        }
    }
}

impl ModelConfig {
    pub fn from_json(text: &str) -> Result<Self> {
        let cfg: ModelConfig = serde_json::from_str(text).map_err(|e| Error::config("config.json", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serialises")
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of BatchNorm statistics sets: one per trained pass, since pass 2 sees modulated inputs.
    pub fn stat_sets(&self) -> usize {
        self.attention.as_ref().map_or(1, |a| a.passes)
    }

    /// Checks every field that the types alone cannot; shape consistency is checked when the model is built.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::config("name", "must not be empty"));
        }
        if self.classes.len() < 2 {
            return Err(Error::config("classes", format!("need at least 2 classes, found {}", self.classes.len())));
        }
        self.input.validate()?;
        let [h, w] = self.input.size;
        // Caps first: they keep the size arithmetic below (and in the model) far from overflow.
        let capped = |field: &str, v: usize, max: usize| {
            if v > max {
                Err(Error::config(field, format!("at most {max}, found {v}")))
            } else {
                Ok(())
            }
        };
        match &self.backbone {
            BackboneConfig::Toy { channels } => channels.iter().try_for_each(|&c| capped("backbone.channels", c, MAX_WIDTH))?,
            BackboneConfig::Resnet { depth, width } => {
                capped("backbone.depth", *depth, 302)?;
                capped("backbone.width", *width, MAX_WIDTH / 4)?;
            }
            BackboneConfig::ImagenetResnet { width, .. } => {
                // the last stage of a bottleneck network is 32 × width wide
                capped("backbone.width", *width, MAX_WIDTH / 32)?;
            }
            BackboneConfig::Patchconv { dim, depth, .. } => {
                capped("backbone.dim", *dim, MAX_WIDTH)?;
                capped("backbone.depth", *depth, 256)?;
            }
            BackboneConfig::ConvGroups { whitening, widths, blocks } => {
                capped("backbone.whitening", *whitening, WHITENING_DIMS)?;
                capped("backbone.widths", widths.len(), 8)?;
                widths.iter().try_for_each(|&c| capped("backbone.widths", c, MAX_WIDTH))?;
                capped("backbone.blocks", *blocks, 64)?;
            }
        }
        if let HeadConfig::ClassAttention { mlp_ratio, .. } = &self.head {
            capped("head.mlp_ratio", *mlp_ratio, 16)?;
        }
        if let HeadConfig::Mlp { hidden } = &self.head {
            capped("head.hidden", *hidden, MAX_WIDTH * 4)?;
        }
        match &self.backbone {
            BackboneConfig::Toy { channels } => {
                if channels.contains(&0) {
                    return Err(Error::config("backbone.channels", "every width must be > 0"));
                }
                if h < 7 || w < 7 {
                    return Err(Error::config("input.size", "the toy CNN needs inputs of at least 7x7"));
                }
            }
            BackboneConfig::Resnet { depth, width } => {
                if *depth < 8 || (depth - 2) % 6 != 0 {
                    return Err(Error::config("backbone.depth", format!("must be 6n+2 with n >= 1 (8, 14, 20, 32, ...), found {depth}")));
                }
                if *width == 0 {
                    return Err(Error::config("backbone.width", "must be > 0"));
                }
            }
            BackboneConfig::ImagenetResnet { depth, width } => {
                if super::imagenet_resnet::layout(*depth).is_none() {
                    return Err(Error::config("backbone.depth", format!("must be 18, 34, 50, 101 or 152, found {depth}")));
                }
                if *width == 0 {
                    return Err(Error::config("backbone.width", "must be > 0"));
                }
            }
            BackboneConfig::Patchconv { dim, depth, stem_stride, init_scale, se_ratio } => {
                if ![1, 2, 4, 8, 16].contains(stem_stride) {
                    return Err(Error::config("backbone.stem_stride", format!("must be 1, 2, 4, 8 or 16, found {stem_stride}")));
                }
                let stages = stem_stride.trailing_zeros() as usize;
                if *dim == 0 || *dim % (1 << stages.saturating_sub(1)) != 0 {
                    return Err(Error::config("backbone.dim", format!("must be a positive multiple of {}", 1 << stages.saturating_sub(1))));
                }
                if *depth == 0 {
                    return Err(Error::config("backbone.depth", "must be > 0"));
                }
                if h < *stem_stride || w < *stem_stride {
                    return Err(Error::config("input.size", format!("smaller than the stem stride {stem_stride}")));
                }
                if !(init_scale.is_finite() && *init_scale > 0.0) {
                    return Err(Error::config("backbone.init_scale", "must be finite and > 0"));
                }
                if !(*se_ratio > 0.0 && *se_ratio <= 1.0) || ((*dim as f64) * se_ratio).round() < 1.0 {
                    return Err(Error::config("backbone.se_ratio", "must be in (0, 1] and leave at least one channel"));
                }
            }
            BackboneConfig::ConvGroups { whitening, widths, .. } => {
                if *whitening == 0 {
                    return Err(Error::config("backbone.whitening", format!("must be in 1..={WHITENING_DIMS}")));
                }
                if widths.is_empty() || widths.contains(&0) {
                    return Err(Error::config("backbone.widths", "need at least one group, every width > 0"));
                }
                if self.input.channels != 3 {
                    return Err(Error::config("input.channels", "patch whitening is defined for 3-channel images"));
                }
                let min = 1usize << widths.len();
                if h < min || w < min {
                    return Err(Error::config(
                        "input.size",
                        format!("{} groups halve the image {} times: at least {min}x{min}", widths.len(), widths.len()),
                    ));
                }
            }
        }
        // Every field is in range: the graph's shapes and sizes can be computed.
        let graph = Graph::new(self);
        if let HeadConfig::ClassAttention { heads, mlp_ratio, init_scale } = &self.head {
            let width = graph.features[0];
            if *heads == 0 || width % heads != 0 {
                return Err(Error::config("head.heads", format!("must divide the feature width {width}, found {heads}")));
            }
            if *mlp_ratio == 0 {
                return Err(Error::config("head.mlp_ratio", "must be > 0"));
            }
            if !(init_scale.is_finite() && *init_scale > 0.0) {
                return Err(Error::config("head.init_scale", "must be finite and > 0"));
            }
        }
        if let HeadConfig::Mlp { hidden } = &self.head {
            if *hidden == 0 {
                return Err(Error::config("head.hidden", "must be > 0"));
            }
            let [c, fh, fw] = graph.features;
            if c.saturating_mul(fh).saturating_mul(fw).saturating_mul(*hidden) > MAX_DENSE_WEIGHTS {
                return Err(Error::config(
                    "head.hidden",
                    format!("the flattened {c}x{fh}x{fw} features times {hidden} units exceed {MAX_DENSE_WEIGHTS} weights; use avg_linear or a smaller input"),
                ));
            }
        }
        if let Some(att) = &self.attention {
            if att.dim == 0 || att.dim > 1024 {
                return Err(Error::config("attention.dim", format!("must be in 1..=1024, found {}", att.dim)));
            }
            if att.passes == 0 || att.passes > MAX_PASSES {
                return Err(Error::config("attention.passes", format!("must be in 1..={MAX_PASSES}, found {}", att.passes)));
            }
            if !att.alpha_init.is_finite() {
                return Err(Error::config("attention.alpha_init", "must be finite"));
            }
            if !(att.aux_loss_weight.is_finite() && att.aux_loss_weight >= 0.0) {
                return Err(Error::config("attention.aux_loss_weight", "must be finite and >= 0"));
            }
            let offered = &graph.sites;
            if let Some(layers) = &att.layers {
                if layers.is_empty() {
                    return Err(Error::config("attention.layers", "must name at least one layer (or be absent for all)"));
                }
                for name in layers {
                    if !offered.iter().any(|s| &s.name == name) {
                        let names: Vec<_> = offered.iter().map(|s| s.name.as_str()).collect();
                        return Err(Error::config(
                            "attention.layers",
                            format!("no layer named `{name}`; this model offers: {}", names.join(", ")),
                        ));
                    }
                }
            }
        }
        // Last: the fields above are each in range, together they may still be too large.
        let activations = graph.activation_bytes();
        if activations > MAX_ACTIVATION_BYTES {
            return Err(Error::config(
                "input.size",
                format!(
                    "one image's activations would take {} MB; at most {} MB are supported (a smaller input or narrower layers)",
                    activations >> 20,
                    MAX_ACTIVATION_BYTES >> 20
                ),
            ));
        }
        let weights = graph.weight_count();
        if weights > MAX_WEIGHTS {
            return Err(Error::config(
                "backbone",
                format!(
                    "this model would have about {:.0} M weights; at most {} M are supported",
                    weights as f64 / 1e6,
                    MAX_WEIGHTS / 1_000_000
                ),
            ));
        }
        Ok(())
    }

    /// The network this config describes.
    pub fn graph(&self) -> Graph {
        Graph::new(self)
    }

    /// Every layer this architecture can attend, in network order, with its output shape.
    pub fn attention_sites(&self) -> Vec<SiteInfo> {
        self.graph().sites
    }

    /// Shape [C, H, W] of the backbone's output feature map.
    pub fn feature_shape(&self) -> [usize; 3] {
        self.graph().features
    }
}

/// The most passes a model, an inspection or the page may run.
pub const MAX_PASSES: usize = 8;

/// Largest dense layer we agree to build (the toy CNN's is 3.2 M).
const MAX_DENSE_WEIGHTS: usize = 64_000_000;
/// Widest layer a config may ask for.
const MAX_WIDTH: usize = 4096;
/// Most weights a model may have (its tensors are allocated when it is built or its file checked).
const MAX_WEIGHTS: u64 = 200_000_000;
/// Most activation memory one image may need in one pass (every layer's output, f32).
const MAX_ACTIVATION_BYTES: u64 = 1 << 30;

/// Dimensions of a 3x3 RGB patch: the most eigenvector pairs a whitening conv can have.
pub const WHITENING_DIMS: usize = 27;

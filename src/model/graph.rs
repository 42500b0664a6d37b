//! The network as data. A config lowers, in one walk, to a graph: the operations of one pass in
//! execution order with their output shapes, the tensors each reads (names and shapes) and the
//! layers GAttANet can attend. Both executors are built from it: the candle network
//! (`model::network`: training and the CPU engine) and the WGSL plan (`gpu::plan`). The expected
//! tensor list, the attention sites, the multiply-add count and the weight bound come from it
//! too, so adding a backbone means adding its lowering (one function) and nothing else.
use candle_nn::init::Init;

use super::config::{AttentionConfig, BackboneConfig, ModelConfig};
use super::{conv_groups, head, imagenet_resnet, patchconv, resnet, toy};

/// A value flowing through the graph: 0 is the input image, i + 1 the output of node i.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    None,
    Relu,
    Gelu,
}

/// A k×k convolution (padding k/2, stride 1 or 2, no groups) and its epilogue, in this order:
/// BatchNorm (statistics per pass) or bias, × a per-channel scale, + a residual, the activation.
#[derive(Debug, Clone)]
pub struct ConvSpec {
    /// Its tensors: `{prefix}.weight` (cout, cin, k, k), `{prefix}.bias` if `bias`.
    pub prefix: String,
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub bias: bool,
    /// Prefix of a BatchNorm: `.weight`, `.bias`, `.stats{s}.mean` / `.var` for every set.
    pub bn: Option<String>,
    /// LayerScale: a per-channel scale tensor and its initial value.
    pub scale: Option<(String, f64)>,
    pub residual: Option<Value>,
    pub act: Act,
    /// Initialisation of the weight for training.
    pub init: Init,
    /// Set from data and never trained (the whitening conv).
    pub frozen: bool,
}

#[derive(Debug, Clone)]
pub enum Op {
    Conv(ConvSpec),
    /// k×k max-pool, stride 2, `pad` zeros on every side (only after a ReLU, where zeros equal
    /// PyTorch's −∞ padding); without padding, odd edges are dropped.
    MaxPool {
        k: usize,
        pad: usize,
    },
    /// LayerNorm over the channels at each position (eps 1e-6): `{prefix}.weight`, `.bias`.
    LayerNorm {
        prefix: String,
    },
    /// Depthwise 3x3 conv with bias, then GELU: `{prefix}.weight` (C, 1, 3, 3), `.bias`.
    DepthwiseGelu {
        prefix: String,
    },
    /// Squeeze-excitation: channel gates sigmoid(expand(ReLU(reduce(mean)))) times the input.
    SqueezeExcite {
        prefix: String,
        reduced: usize,
    },
    /// Mean over positions: [C, H, W] → [C, 1, 1].
    AvgPool,
    /// Dense layer with bias on the flattened input: [C·H·W] → [units].
    Linear {
        prefix: String,
        units: usize,
        act: Act,
    },
    /// PatchConvNet's attention-based aggregation and classifier: a learned class token attends
    /// over the patches of a [C, H, W] map; outputs the logits and the attention weights.
    ClassAttention {
        prefix: String,
        heads: usize,
        mlp_ratio: usize,
        init_scale: f64,
        classes: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Where it sits in the network (`backbone.group1.conv1`, `head.fc`); names its launches.
    pub name: String,
    pub op: Op,
    pub input: Value,
    /// Output shape [C, H, W]; dense outputs are [units, 1, 1].
    pub shape: [usize; 3],
    /// Its index among the candidate attention sites, if its output is one.
    pub site: Option<usize>,
}

/// A layer whose output can carry keys and queries.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteInfo {
    pub name: String,
    pub channels: usize,
    /// [H, W] for conv layers, None for dense layers.
    pub spatial: Option<[usize; 2]>,
}

/// A tensor the model reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub input: [usize; 3],
    pub nodes: Vec<Node>,
    /// Every layer the architecture offers to GAttANet, in network order.
    pub sites: Vec<SiteInfo>,
    /// For every candidate site: its index among the attended layers, if attended.
    pub attended: Vec<Option<usize>>,
    /// The backbone's output (the head's input).
    pub features: [usize; 3],
    /// Every tensor of the model, GAttANet's included, in creation order.
    pub weights: Vec<WeightSpec>,
}

impl Graph {
    /// Lower a config whose fields are in range (`ModelConfig::validate` calls this after its
    /// field checks; anything else should use a validated config).
    pub fn new(cfg: &ModelConfig) -> Graph {
        let [h, w] = cfg.input.size;
        let mut b = Builder {
            stat_sets: cfg.stat_sets(),
            graph: Graph {
                input: [cfg.input.channels, h, w],
                nodes: Vec::new(),
                sites: Vec::new(),
                attended: Vec::new(),
                features: [0; 3],
                weights: Vec::new(),
            },
        };
        let x = Value(0);
        let features = match &cfg.backbone {
            BackboneConfig::Toy { channels } => toy::lower(&mut b, x, *channels),
            BackboneConfig::Resnet { depth, width } => resnet::lower(&mut b, x, *depth, *width),
            BackboneConfig::ImagenetResnet { depth, width } => imagenet_resnet::lower(&mut b, x, *depth, *width),
            BackboneConfig::Patchconv { dim, depth, stem_stride, init_scale, se_ratio } => {
                patchconv::lower(&mut b, x, *dim, *depth, *stem_stride, *init_scale, *se_ratio)
            }
            BackboneConfig::ConvGroups { whitening, widths, blocks } => conv_groups::lower(&mut b, x, *whitening, widths, *blocks),
        };
        b.graph.features = b.shape(features);
        head::lower(&mut b, features, &cfg.head, cfg.num_classes());
        b.attend(cfg.attention.as_ref());
        b.graph
    }

    /// The shape of a value.
    pub fn shape(&self, v: Value) -> [usize; 3] {
        match v.0 {
            0 => self.input,
            i => self.nodes[i - 1].shape,
        }
    }

    /// The attended layers, in network order.
    pub fn attended_sites(&self) -> Vec<SiteInfo> {
        self.sites.iter().zip(&self.attended).filter(|(_, a)| a.is_some()).map(|(s, _)| s.clone()).collect()
    }

    /// The output (logits) of the network.
    pub fn output(&self) -> Value {
        Value(self.nodes.len())
    }

    /// Multiply-adds of one plain pass for one image (convolutions, dense layers, attention).
    pub fn macs(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| {
                let [ci, h, w] = self.shape(n.input);
                let [co, ho, wo] = n.shape;
                let out = (ho * wo) as u64;
                match &n.op {
                    Op::Conv(c) => (c.cout * c.cin * c.k * c.k) as u64 * out,
                    Op::DepthwiseGelu { .. } => 9 * (co as u64) * out,
                    Op::SqueezeExcite { reduced, .. } => 2 * (co * reduced) as u64,
                    Op::Linear { units, .. } => (ci * h * w * units) as u64,
                    Op::ClassAttention { mlp_ratio, classes, .. } => {
                        let (c, t) = (ci as u64, (h * w + 1) as u64);
                        // q for the class token, k and v for every token, scores and weighted
                        // sum, projection, MLP, classifier
                        c * c + 2 * t * c * c + 2 * t * c + c * c + 2 * c * c * *mlp_ratio as u64 + c * *classes as u64
                    }
                    Op::MaxPool { .. } | Op::LayerNorm { .. } | Op::AvgPool => 0,
                }
            })
            .sum()
    }

    /// Bytes of every value of one pass for one image (f32): the input and each node's output,
    /// as the WebGPU engine allocates them (candle frees them as it goes), saturating.
    pub fn activation_bytes(&self) -> u64 {
        let numel = |[c, h, w]: [usize; 3]| (c as u64).saturating_mul(h as u64).saturating_mul(w as u64);
        self.nodes.iter().map(|n| numel(n.shape)).fold(numel(self.input), u64::saturating_add).saturating_mul(4)
    }

    /// The number of stored values (weights and statistics), saturating.
    pub fn weight_count(&self) -> u64 {
        self.weights.iter().map(|w| w.shape.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64))).fold(0, u64::saturating_add)
    }
}

/// Appends nodes and their tensors; the backbone and head lowerings drive it.
pub struct Builder {
    stat_sets: usize,
    graph: Graph,
}

impl Builder {
    pub fn shape(&self, v: Value) -> [usize; 3] {
        self.graph.shape(v)
    }

    fn weight(&mut self, name: String, shape: Vec<usize>) {
        self.graph.weights.push(WeightSpec { name, shape });
    }

    fn push(&mut self, name: String, op: Op, input: Value, shape: [usize; 3], site: Option<String>) -> Value {
        let site = site.map(|s| {
            let [c, h, w] = shape;
            let spatial = match op {
                Op::Linear { .. } | Op::ClassAttention { .. } => None,
                _ => Some([h, w]),
            };
            self.graph.sites.push(SiteInfo { name: s, channels: c, spatial });
            self.graph.sites.len() - 1
        });
        self.graph.nodes.push(Node { name, op, input, shape, site });
        Value(self.graph.nodes.len())
    }

    /// A convolution; `site` names the attention site at its output, if it is one.
    pub fn conv(&mut self, x: Value, spec: ConvSpec, site: Option<String>) -> Value {
        let [_, h, w] = self.shape(x);
        let pad = spec.k / 2;
        let out = |n: usize| (n + 2 * pad - spec.k) / spec.stride + 1;
        let p = &spec.prefix;
        self.weight(format!("{p}.weight"), vec![spec.cout, spec.cin, spec.k, spec.k]);
        if spec.bias {
            self.weight(format!("{p}.bias"), vec![spec.cout]);
        }
        if let Some(bn) = &spec.bn {
            self.batch_norm(bn.clone(), spec.cout);
        }
        if let Some((s, _)) = &spec.scale {
            self.weight(s.clone(), vec![spec.cout]);
        }
        let name = match &spec.bn {
            // `{block}.conv` with `{block}.bn`: the node is the block
            Some(_) => p.strip_suffix(".conv").unwrap_or(p).to_string(),
            None => p.clone(),
        };
        let shape = [spec.cout, out(h), out(w)];
        self.push(name, Op::Conv(spec), x, shape, site)
    }

    fn batch_norm(&mut self, prefix: String, c: usize) {
        self.weight(format!("{prefix}.weight"), vec![c]);
        self.weight(format!("{prefix}.bias"), vec![c]);
        for s in 0..self.stat_sets {
            self.weight(format!("{prefix}.stats{s}.mean"), vec![c]);
            self.weight(format!("{prefix}.stats{s}.var"), vec![c]);
        }
    }

    pub fn max_pool(&mut self, name: String, x: Value, k: usize) -> Value {
        self.max_pool_padded(name, x, k, 0)
    }

    /// A max-pool with `pad` zeros around the input: use it only on a ReLU's output.
    pub fn max_pool_padded(&mut self, name: String, x: Value, k: usize, pad: usize) -> Value {
        let [c, h, w] = self.shape(x);
        let out = |n: usize| pool_out(n + 2 * pad, k, 2);
        self.push(name, Op::MaxPool { k, pad }, x, [c, out(h), out(w)], None)
    }

    pub fn layer_norm(&mut self, prefix: String, x: Value) -> Value {
        let shape = self.shape(x);
        self.norm_weights(&prefix, shape[0]);
        self.push(prefix.clone(), Op::LayerNorm { prefix }, x, shape, None)
    }

    pub(crate) fn norm_weights(&mut self, prefix: &str, c: usize) {
        self.weight(format!("{prefix}.weight"), vec![c]);
        self.weight(format!("{prefix}.bias"), vec![c]);
    }

    pub fn depthwise_gelu(&mut self, prefix: String, x: Value) -> Value {
        let shape = self.shape(x);
        self.weight(format!("{prefix}.weight"), vec![shape[0], 1, 3, 3]);
        self.weight(format!("{prefix}.bias"), vec![shape[0]]);
        self.push(prefix.clone(), Op::DepthwiseGelu { prefix }, x, shape, None)
    }

    pub fn squeeze_excite(&mut self, prefix: String, x: Value, reduced: usize) -> Value {
        let shape = self.shape(x);
        self.linear_weights(&format!("{prefix}.reduce"), shape[0], reduced);
        self.linear_weights(&format!("{prefix}.expand"), reduced, shape[0]);
        self.push(prefix.clone(), Op::SqueezeExcite { prefix, reduced }, x, shape, None)
    }

    pub fn avg_pool(&mut self, name: String, x: Value) -> Value {
        let [c, _, _] = self.shape(x);
        self.push(name, Op::AvgPool, x, [c, 1, 1], None)
    }

    pub fn linear(&mut self, prefix: String, x: Value, units: usize, act: Act, site: Option<String>) -> Value {
        let [c, h, w] = self.shape(x);
        // saturating: `validate` bounds the flattened size after lowering (32-bit usize in wasm)
        self.linear_weights(&prefix, c.saturating_mul(h).saturating_mul(w), units);
        self.push(prefix.clone(), Op::Linear { prefix, units, act }, x, [units, 1, 1], site)
    }

    pub(crate) fn linear_weights(&mut self, prefix: &str, inputs: usize, units: usize) {
        self.weight(format!("{prefix}.weight"), vec![units, inputs]);
        self.weight(format!("{prefix}.bias"), vec![units]);
    }

    /// A node whose tensors the caller listed with `tensor` (composite ops such as class attention).
    pub(crate) fn node(&mut self, name: String, op: Op, x: Value, shape: [usize; 3], site: Option<String>) -> Value {
        self.push(name, op, x, shape, site)
    }

    pub(crate) fn tensor(&mut self, name: String, shape: Vec<usize>) {
        self.weight(name, shape)
    }

    /// Choose the attended sites and list GAttANet's tensors for them.
    fn attend(&mut self, att: Option<&AttentionConfig>) {
        let mut n = 0;
        self.graph.attended = self
            .graph
            .sites
            .iter()
            .map(|s| {
                let on = att.is_some_and(|a| a.layers.as_ref().is_none_or(|names| names.contains(&s.name)));
                on.then(|| {
                    n += 1;
                    n - 1
                })
            })
            .collect();
        let Some(att) = att else { return };
        for s in self.graph.attended_sites() {
            for t in ["key", "query"] {
                self.weight(format!("gatta.{}.{t}", s.name), vec![s.channels, att.dim]);
            }
            self.weight(format!("gatta.{}.alpha", s.name), vec![1]);
        }
    }
}

/// A conv spec with the common defaults: no bias, BatchNorm, scale or residual, Kaiming init.
pub fn conv(prefix: String, cin: usize, cout: usize, k: usize, stride: usize, act: Act) -> ConvSpec {
    ConvSpec {
        prefix,
        cin,
        cout,
        k,
        stride,
        bias: false,
        bn: None,
        scale: None,
        residual: None,
        act,
        init: super::layers::kaiming(cin * k * k),
        frozen: false,
    }
}

/// conv (no bias) → BatchNorm → act, the tensors under `{prefix}.conv` and `{prefix}.bn`.
pub fn conv_bn(prefix: &str, cin: usize, cout: usize, k: usize, stride: usize, act: Act) -> ConvSpec {
    ConvSpec { bn: Some(format!("{prefix}.bn")), ..conv(format!("{prefix}.conv"), cin, cout, k, stride, act) }
}

/// Output size of a k×k max-pool with this stride, no padding.
pub(crate) fn pool_out(n: usize, k: usize, stride: usize) -> usize {
    (n.saturating_sub(k)) / stride + 1
}

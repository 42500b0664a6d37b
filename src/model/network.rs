//! The graph as candle modules: one module per node, run in graph order. Serves training
//! (everything is differentiable, BatchNorm keeps statistics per pass) and the CPU engine.
use candle_core::{Result, Tensor};
use candle_nn::{init::Init, VarBuilder};

use super::class_attention::ClassAttention;
use super::graph::{Act, ConvSpec, Graph, Op};
use super::layers::{
    gelu, max_pool, scale_planes, uniform_fan_in, BatchNorm, Conv, DepthwiseConv3, LayerNorm, Linear, PassContext, SqueezeExcite,
};
use super::Tap;

#[derive(Debug, Clone)]
enum Module {
    Conv { conv: Conv, bn: Option<BatchNorm>, scale: Option<Tensor> },
    MaxPool,
    LayerNorm(LayerNorm),
    DepthwiseGelu(DepthwiseConv3),
    SqueezeExcite(SqueezeExcite),
    AvgPool,
    Linear(Linear),
    ClassAttention(ClassAttention),
}

#[derive(Debug, Clone)]
pub struct Network {
    graph: Graph,
    modules: Vec<Module>,
    /// For every node: the values whose last reader it is (dropped after it runs).
    last_reads: Vec<Vec<usize>>,
}

/// The logits of one pass and, for class attention, the weights (B, heads, 1 + N).
pub struct NetworkOutput {
    pub logits: Tensor,
    pub attention: Option<Tensor>,
}

impl Network {
    /// Every tensor by its name in the graph, from `vb` (random for training, loaded otherwise).
    pub fn new(graph: &Graph, stat_sets: usize, vb: &VarBuilder) -> Result<Self> {
        let modules = graph
            .nodes
            .iter()
            .map(|node| {
                let [cin, _, _] = graph.shape(node.input);
                Ok(match &node.op {
                    Op::Conv(c) => conv_module(c, stat_sets, vb)?,
                    Op::MaxPool { .. } => Module::MaxPool,
                    Op::LayerNorm { prefix } => Module::LayerNorm(LayerNorm::new(vb.pp(prefix), cin, 1e-6)?),
                    Op::DepthwiseGelu { prefix } => Module::DepthwiseGelu(DepthwiseConv3::new(vb.pp(prefix), cin)?),
                    Op::SqueezeExcite { prefix, reduced } => Module::SqueezeExcite(SqueezeExcite::new(vb.pp(prefix), cin, *reduced)?),
                    Op::AvgPool => Module::AvgPool,
                    Op::Linear { prefix, units, .. } => {
                        let [c, h, w] = graph.shape(node.input);
                        let k = c * h * w;
                        Module::Linear(Linear::new(vb.pp(prefix), k, *units, true, uniform_fan_in(k))?)
                    }
                    Op::ClassAttention { prefix, heads, mlp_ratio, init_scale, classes } => {
                        Module::ClassAttention(ClassAttention::new(vb.pp(prefix), cin, *heads, *mlp_ratio, *init_scale, *classes)?)
                    }
                })
            })
            .collect::<Result<_>>()?;
        let mut last = vec![None; graph.nodes.len() + 1];
        for (i, node) in graph.nodes.iter().enumerate() {
            last[node.input.0] = Some(i);
            if let Op::Conv(ConvSpec { residual: Some(r), .. }) = &node.op {
                last[r.0] = Some(i);
            }
        }
        let mut last_reads = vec![Vec::new(); graph.nodes.len()];
        for (v, reader) in last.iter().enumerate() {
            if let Some(i) = reader {
                last_reads[*i].push(v);
            }
        }
        Ok(Network { graph: graph.clone(), modules, last_reads })
    }

    /// One pass on x (B, C, H, W); `tap` applies the gains and records the attended activations.
    pub fn forward(&self, x: &Tensor, ctx: PassContext, tap: &mut Tap) -> Result<NetworkOutput> {
        let mut values: Vec<Option<Tensor>> = Vec::with_capacity(self.modules.len() + 1);
        values.push(Some(x.clone()));
        let mut attention = None;
        for (i, (node, module)) in self.graph.nodes.iter().zip(&self.modules).enumerate() {
            let read = |v: usize| values[v].as_ref().expect("graph order: values are read before they are dropped");
            let x = read(node.input.0);
            let y = match (module, &node.op) {
                (Module::Conv { conv, bn, scale }, Op::Conv(spec)) => {
                    let y = conv.forward(x)?;
                    let plain_relu = spec.act == Act::Relu && scale.is_none() && spec.residual.is_none();
                    match bn {
                        // one fused op when training on the CPU
                        Some(bn) if plain_relu => bn.forward_relu(&y, ctx)?,
                        _ => {
                            let y = match bn {
                                Some(bn) => bn.forward(&y, ctx)?,
                                None => y,
                            };
                            let y = match scale {
                                Some(s) => scale_planes(&y, s)?,
                                None => y,
                            };
                            let y = match spec.residual {
                                Some(r) => (read(r.0) + y)?,
                                None => y,
                            };
                            activate(y, spec.act)?
                        }
                    }
                }
                (Module::MaxPool, &Op::MaxPool { k, pad }) => max_pool(x, k, pad)?,
                (Module::LayerNorm(ln), _) => ln.forward_channels(x)?,
                (Module::DepthwiseGelu(dw), _) => gelu(&dw.forward(x)?)?,
                (Module::SqueezeExcite(se), _) => se.forward(x)?,
                (Module::AvgPool, _) => x.mean((2, 3))?,
                (Module::Linear(fc), &Op::Linear { act, .. }) => activate(fc.forward(&x.flatten_from(1)?)?, act)?,
                (Module::ClassAttention(ca), _) => {
                    let (logits, weights) = ca.forward(x)?;
                    attention = Some(weights);
                    logits
                }
                _ => unreachable!("modules are built from these nodes"),
            };
            let y = match node.site {
                Some(s) => tap.site(s, y)?,
                None => y,
            };
            for &v in &self.last_reads[i] {
                values[v] = None;
            }
            values.push(Some(y));
        }
        let logits = values.pop().flatten().expect("the graph ends in the logits");
        Ok(NetworkOutput { logits, attention })
    }
}

fn conv_module(c: &ConvSpec, stat_sets: usize, vb: &VarBuilder) -> Result<Module> {
    let conv = Conv::new(vb.pp(&c.prefix), c.cin, c.cout, c.k, c.stride, c.bias, c.init)?;
    let conv = if c.frozen { conv.frozen() } else { conv };
    let bn = c.bn.as_ref().map(|p| BatchNorm::new(vb.pp(p), c.cout, stat_sets)).transpose()?;
    let scale = c.scale.as_ref().map(|(name, init)| vb.get_with_hints(c.cout, name, Init::Const(*init))).transpose()?;
    Ok(Module::Conv { conv, bn, scale })
}

fn activate(x: Tensor, act: Act) -> Result<Tensor> {
    match act {
        Act::None => Ok(x),
        Act::Relu => x.relu(),
        Act::Gelu => gelu(&x),
    }
}

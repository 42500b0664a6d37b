//! Classifier heads: average pooling + linear, the toy CNN's two dense layers, or PatchConvNet's
//! attention-based aggregation (a learned class token attending over all patches).
use candle_core::{Result, Tensor, D};
use candle_nn::{init::Init, VarBuilder};

use super::config::HeadConfig;
use super::layers::{gelu, uniform_fan_in, LayerNorm, Linear};
use super::Tap;

const TRUNC_NORMAL_02: Init = Init::Randn { mean: 0.0, stdev: 0.02 };

#[derive(Debug, Clone)]
pub enum Head {
    AvgLinear { fc: Linear },
    Mlp { fc1: Linear, fc2: Linear },
    ClassAttention(ClassAttention),
}

/// What a head returns: logits (before the logit site) and, for class attention, the weights
/// (B, heads, 1 + N) of the class token over [itself, patches].
pub struct HeadOutput {
    pub logits: Tensor,
    pub attention: Option<Tensor>,
}

impl Head {
    /// `features`: [C, H, W] of the backbone output.
    pub fn new(vb: VarBuilder, cfg: &HeadConfig, features: [usize; 3], classes: usize) -> Result<Self> {
        let [c, h, w] = features;
        Ok(match cfg {
            HeadConfig::AvgLinear => Head::AvgLinear { fc: Linear::new(vb.pp("fc"), c, classes, true, uniform_fan_in(c))? },
            HeadConfig::Mlp { hidden } => {
                let n = c * h * w;
                Head::Mlp {
                    fc1: Linear::new(vb.pp("fc1"), n, *hidden, true, uniform_fan_in(n))?,
                    fc2: Linear::new(vb.pp("fc2"), *hidden, classes, true, uniform_fan_in(*hidden))?,
                }
            }
            HeadConfig::ClassAttention { heads, mlp_ratio, init_scale } => {
                Head::ClassAttention(ClassAttention::new(vb, c, *heads, *mlp_ratio, *init_scale, classes)?)
            }
        })
    }

    pub fn forward(&self, x: &Tensor, tap: &mut Tap) -> Result<HeadOutput> {
        match self {
            Head::AvgLinear { fc } => Ok(HeadOutput { logits: fc.forward(&x.mean((2, 3))?)?, attention: None }),
            Head::Mlp { fc1, fc2 } => {
                let hidden = tap.site(fc1.forward(&x.flatten_from(1)?)?.relu()?)?;
                Ok(HeadOutput { logits: fc2.forward(&hidden)?, attention: None })
            }
            Head::ClassAttention(ca) => ca.forward(x),
        }
    }

    pub fn macs(&self, h: usize, w: usize) -> u64 {
        match self {
            Head::AvgLinear { fc } => fc.macs(),
            Head::Mlp { fc1, fc2 } => fc1.macs() + fc2.macs(),
            Head::ClassAttention(ca) => ca.macs(h * w),
        }
    }
}

/// One class-attention block (CaiT / PatchConvNet): only the class token is updated.
#[derive(Debug, Clone)]
pub struct ClassAttention {
    cls_token: Tensor,
    norm1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    proj: Linear,
    gamma1: Tensor,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    gamma2: Tensor,
    norm: LayerNorm,
    fc: Linear,
    heads: usize,
}

impl ClassAttention {
    fn new(vb: VarBuilder, c: usize, heads: usize, mlp_ratio: usize, init_scale: f64, classes: usize) -> Result<Self> {
        let lin = |name: &str, i, o| Linear::new(vb.pp(name), i, o, true, TRUNC_NORMAL_02);
        Ok(ClassAttention {
            cls_token: vb.get_with_hints((1, 1, c), "cls_token", TRUNC_NORMAL_02)?,
            norm1: LayerNorm::new(vb.pp("norm1"), c, 1e-6)?,
            q: lin("q", c, c)?,
            k: lin("k", c, c)?,
            v: lin("v", c, c)?,
            proj: lin("proj", c, c)?,
            gamma1: vb.get_with_hints(c, "gamma1", Init::Const(init_scale))?,
            norm2: LayerNorm::new(vb.pp("norm2"), c, 1e-6)?,
            fc1: lin("mlp.fc1", c, c * mlp_ratio)?,
            fc2: lin("mlp.fc2", c * mlp_ratio, c)?,
            gamma2: vb.get_with_hints(c, "gamma2", Init::Const(init_scale))?,
            norm: LayerNorm::new(vb.pp("norm"), c, 1e-6)?,
            fc: lin("fc", c, classes)?,
            heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<HeadOutput> {
        let (b, c, _, _) = x.dims4()?;
        let (h, dh) = (self.heads, c / self.heads);
        let patches = x.flatten_from(2)?.transpose(1, 2)?; // (B, N, C)
        let cls = self.cls_token.broadcast_as((b, 1, c))?;
        let u = self.norm1.forward_last(&Tensor::cat(&[&cls, &patches], 1)?.contiguous()?)?; // (B, 1+N, C)
        let n1 = u.dim(1)?;
        let split = |t: Tensor, n: usize| t.reshape((b, n, h, dh))?.transpose(1, 2)?.contiguous(); // (B, h, n, dh)
        let q = (split(self.q.forward(&u.narrow(1, 0, 1)?)?, 1)? * (dh as f64).powf(-0.5))?;
        let k = split(self.k.forward(&u)?, n1)?;
        let v = split(self.v.forward(&u)?, n1)?;
        let attn = candle_nn::ops::softmax(&q.matmul(&k.t()?)?, D::Minus1)?; // (B, h, 1, 1+N)
        let o = attn.matmul(&v)?.transpose(1, 2)?.reshape((b, 1, c))?;
        let cls = (cls + self.proj.forward(&o)?.broadcast_mul(&self.gamma1)?)?;
        let mlp = self.fc2.forward(&gelu(&self.fc1.forward(&self.norm2.forward_last(&cls)?)?)?)?;
        let cls = (cls + mlp.broadcast_mul(&self.gamma2)?)?;
        let logits = self.fc.forward(&self.norm.forward_last(&cls)?.squeeze(1)?)?;
        Ok(HeadOutput { logits, attention: Some(attn.squeeze(2)?) })
    }

    fn macs(&self, n: usize) -> u64 {
        let c = self.q.weight.dim(0).unwrap_or(0) as u64;
        let n1 = (n + 1) as u64;
        // q for one token, k and v for 1+N tokens, scores and weighted sum, proj, MLP, classifier
        self.q.macs()
            + n1 * (self.k.macs() + self.v.macs())
            + 2 * n1 * c
            + self.proj.macs()
            + self.fc1.macs()
            + self.fc2.macs()
            + self.fc.macs()
    }
}

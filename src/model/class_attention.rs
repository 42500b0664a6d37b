//! PatchConvNet's attention-based aggregation (a learned class token attending over all
//! patches), as candle computes it; `head::lower` lists its tensors for the graph.
use candle_core::{Result, Tensor, D};
use candle_nn::{init::Init, VarBuilder};

use super::layers::{gelu, LayerNorm, Linear};

const TRUNC_NORMAL_02: Init = Init::Randn { mean: 0.0, stdev: 0.02 };

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
    pub fn new(vb: VarBuilder, c: usize, heads: usize, mlp_ratio: usize, init_scale: f64, classes: usize) -> Result<Self> {
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

    /// Logits (B, classes) and the class token's attention (B, heads, 1 + N) over [itself, patches].
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
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
        Ok((logits, attn.squeeze(2)?))
    }
}

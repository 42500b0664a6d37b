//! PatchConvNet trunk (Touvron et al. 2021): a strided conv stem, then blocks at constant
//! resolution and width:  x + γ ⊙ conv1x1(SE(GELU(dw3x3(GELU(conv1x1(LN(x))))))).
use candle_core::{Result, Tensor};
use candle_nn::{init::Init, VarBuilder};

use super::layers::{gelu, scale_planes, uniform_fan_in, Conv, Ctx, DepthwiseConv3, LayerNorm, SqueezeExcite};
use super::Tap;

#[derive(Debug, Clone)]
struct Block {
    norm: LayerNorm,
    conv1: Conv,
    dw: DepthwiseConv3,
    se: SqueezeExcite,
    conv2: Conv,
    gamma: Tensor,
}

#[derive(Debug, Clone)]
pub struct PatchConv {
    stem: Vec<Conv>,
    /// Stride of each stem conv: 2, or 1 for a stride-1 stem.
    stem_step: usize,
    blocks: Vec<Block>,
}

impl PatchConv {
    pub fn new(vb: VarBuilder, cin: usize, dim: usize, depth: usize, stem_stride: usize, init_scale: f64, se_ratio: f64) -> Result<Self> {
        // log2(stride) stride-2 convs whose widths double up to `dim` (a single stride-1 conv for stride 1).
        let n = (stem_stride.trailing_zeros() as usize).max(1);
        let stride = if stem_stride == 1 { 1 } else { 2 };
        let mut stem = Vec::new();
        let mut c_prev = cin;
        for i in 0..n {
            let c = dim >> (n - 1 - i);
            stem.push(Conv::new(vb.pp(format!("stem.{i}")), c_prev, c, 3, stride, false, uniform_fan_in(c_prev * 9))?);
            c_prev = c;
        }
        let r = ((dim as f64) * se_ratio).round() as usize;
        let blocks = (0..depth)
            .map(|i| {
                let vb = vb.pp(format!("blocks.{i}"));
                Ok(Block {
                    norm: LayerNorm::new(vb.pp("norm"), dim, 1e-6)?,
                    conv1: Conv::new(vb.pp("conv1"), dim, dim, 1, 1, true, uniform_fan_in(dim))?,
                    dw: DepthwiseConv3::new(vb.pp("dwconv"), dim)?,
                    se: SqueezeExcite::new(vb.pp("se"), dim, r)?,
                    conv2: Conv::new(vb.pp("conv2"), dim, dim, 1, 1, true, uniform_fan_in(dim))?,
                    gamma: vb.get_with_hints(dim, "gamma", Init::Const(init_scale))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(PatchConv { stem, stem_step: stride, blocks })
    }

    pub fn forward(&self, x: &Tensor, _ctx: Ctx, tap: &mut Tap) -> Result<Tensor> {
        let mut x = x.clone();
        for (i, conv) in self.stem.iter().enumerate() {
            x = conv.forward(&x)?;
            if i + 1 < self.stem.len() {
                x = gelu(&x)?;
            }
        }
        for b in &self.blocks {
            let u = gelu(&b.conv1.forward(&b.norm.forward_channels(&x)?)?)?;
            let u = b.conv2.forward(&b.se.forward(&gelu(&b.dw.forward(&u)?)?)?)?;
            x = tap.site((x + scale_planes(&u, &b.gamma)?)?)?;
        }
        Ok(x)
    }

    pub fn macs(&self, mut h: usize, mut w: usize) -> u64 {
        let mut total = 0;
        for conv in &self.stem {
            h = h.div_ceil(self.stem_step);
            w = w.div_ceil(self.stem_step);
            total += conv.macs(h, w);
        }
        for b in &self.blocks {
            total += b.conv1.macs(h, w) + b.dw.macs(h, w) + b.se.macs() + b.conv2.macs(h, w);
        }
        total
    }
}

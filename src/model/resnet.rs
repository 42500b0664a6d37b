//! CIFAR ResNet (He et al. 2016, §4.2): a 3x3 stem, three stages of basic blocks with widths
//! w, 2w, 4w (stride 2 entering stages 2 and 3), 1x1 projection shortcuts where shapes change.
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{kaiming, BatchNorm, Conv, Ctx};
use super::Tap;

#[derive(Debug, Clone)]
struct ConvBn {
    conv: Conv,
    bn: BatchNorm,
    stride: usize,
}

impl ConvBn {
    fn new(vb: VarBuilder, cin: usize, cout: usize, k: usize, stride: usize, sets: usize) -> Result<Self> {
        Ok(ConvBn {
            conv: Conv::new(vb.pp("conv"), cin, cout, k, stride, false, kaiming(cin * k * k))?,
            bn: BatchNorm::new(vb.pp("bn"), cout, sets)?,
            stride,
        })
    }
    fn forward(&self, x: &Tensor, ctx: Ctx) -> Result<Tensor> {
        self.bn.forward(&self.conv.forward(x)?, ctx)
    }
    fn forward_relu(&self, x: &Tensor, ctx: Ctx) -> Result<Tensor> {
        self.bn.forward_relu(&self.conv.forward(x)?, ctx)
    }
    fn macs(&self, h: usize, w: usize) -> u64 {
        self.conv.macs(h.div_ceil(self.stride), w.div_ceil(self.stride))
    }
}

#[derive(Debug, Clone)]
struct Block {
    a: ConvBn,
    b: ConvBn,
    shortcut: Option<ConvBn>,
}

#[derive(Debug, Clone)]
pub struct ResNet {
    stem: ConvBn,
    blocks: Vec<Block>,
}

impl ResNet {
    pub fn new(vb: VarBuilder, cin: usize, depth: usize, width: usize, sets: usize) -> Result<Self> {
        let stem = ConvBn::new(vb.pp("stem"), cin, width, 3, 1, sets)?;
        let n = (depth - 2) / 6;
        let mut blocks = Vec::new();
        let mut c_prev = width;
        for s in 0..3 {
            let c = width << s;
            for b in 0..n {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let vb = vb.pp(format!("stage{}.block{}", s + 1, b + 1));
                let shortcut =
                    if stride != 1 || c_prev != c { Some(ConvBn::new(vb.pp("shortcut"), c_prev, c, 1, stride, sets)?) } else { None };
                blocks.push(Block {
                    a: ConvBn::new(vb.pp("conv1"), c_prev, c, 3, stride, sets)?,
                    b: ConvBn::new(vb.pp("conv2"), c, c, 3, 1, sets)?,
                    shortcut,
                });
                c_prev = c;
            }
        }
        Ok(ResNet { stem, blocks })
    }

    pub fn forward(&self, x: &Tensor, ctx: Ctx, tap: &mut Tap) -> Result<Tensor> {
        let mut x = self.stem.forward_relu(x, ctx)?;
        for block in &self.blocks {
            let y = block.b.forward(&block.a.forward_relu(&x, ctx)?, ctx)?;
            let skip = match &block.shortcut {
                Some(s) => s.forward(&x, ctx)?,
                None => x,
            };
            x = tap.site((y + skip)?.relu()?)?;
        }
        Ok(x)
    }

    pub fn macs(&self, mut h: usize, mut w: usize) -> u64 {
        let mut total = self.stem.macs(h, w);
        for block in &self.blocks {
            total += block.a.macs(h, w);
            h = h.div_ceil(block.a.stride);
            w = w.div_ceil(block.a.stride);
            total += block.b.macs(h, w);
            if let Some(s) = &block.shortcut {
                total += s.conv.macs(h, w);
            }
        }
        total
    }
}

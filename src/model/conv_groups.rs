//! Conv groups with patch whitening, the trunk of the fast CIFAR-10 recipes (Page's ResNet-9,
//! hlb-CIFAR10, airbench): a frozen 3x3 conv whose filters are the ± eigenvectors of the
//! training set's patch covariance scaled to unit variance (it decorrelates the pixels the
//! first learned conv sees), then groups of two conv → BatchNorm → GELU layers with a 2x2
//! max-pool between them, then residual pairs at the last width:
//!   block(x) = GELU(x + BN(conv(GELU(BN(conv(x)))))).
//! Attended: both convs of every group (the first at full resolution) and every block.
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{gelu, kaiming, max_pool_2s2, BatchNorm, Conv, Ctx};
use super::Tap;

/// conv3x3 (no bias) → BatchNorm (statistics per pass) → GELU.
#[derive(Debug, Clone)]
struct ConvBn {
    conv: Conv,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(vb: VarBuilder, cin: usize, cout: usize, sets: usize) -> Result<Self> {
        Ok(ConvBn {
            conv: Conv::new(vb.pp("conv"), cin, cout, 3, 1, false, kaiming(cin * 9))?,
            bn: BatchNorm::new(vb.pp("bn"), cout, sets)?,
        })
    }

    /// BN(conv(x)), before the activation.
    fn linear(&self, x: &Tensor, ctx: Ctx) -> Result<Tensor> {
        self.bn.forward(&self.conv.forward(x)?, ctx)
    }

    fn forward(&self, x: &Tensor, ctx: Ctx) -> Result<Tensor> {
        gelu(&self.linear(x, ctx)?)
    }
}

#[derive(Debug, Clone)]
pub struct ConvGroups {
    whiten: Conv,
    groups: Vec<[ConvBn; 2]>,
    blocks: Vec<[ConvBn; 2]>,
}

impl ConvGroups {
    pub fn new(vb: VarBuilder, cin: usize, whitening: usize, widths: &[usize], blocks: usize, sets: usize) -> Result<Self> {
        // Set from the data by the trainer (`train::whitening`) and never trained.
        let whiten = Conv::new(vb.pp("whiten"), cin, 2 * whitening, 3, 1, false, kaiming(cin * 9))?.frozen();
        let mut prev = 2 * whitening;
        let mut groups = Vec::new();
        for (g, &c) in widths.iter().enumerate() {
            let vb = vb.pp(format!("group{}", g + 1));
            groups.push([ConvBn::new(vb.pp("conv1"), prev, c, sets)?, ConvBn::new(vb.pp("conv2"), c, c, sets)?]);
            prev = c;
        }
        let blocks = (0..blocks)
            .map(|b| {
                let vb = vb.pp(format!("block{}", b + 1));
                Ok([ConvBn::new(vb.pp("conv1"), prev, prev, sets)?, ConvBn::new(vb.pp("conv2"), prev, prev, sets)?])
            })
            .collect::<Result<_>>()?;
        Ok(ConvGroups { whiten, groups, blocks })
    }

    pub fn forward(&self, x: &Tensor, ctx: Ctx, tap: &mut Tap) -> Result<Tensor> {
        let mut x = gelu(&self.whiten.forward(x)?)?;
        for [a, b] in &self.groups {
            x = max_pool_2s2(&tap.site(a.forward(&x, ctx)?)?)?;
            x = tap.site(b.forward(&x, ctx)?)?;
        }
        for [a, b] in &self.blocks {
            let u = b.linear(&a.forward(&x, ctx)?, ctx)?;
            x = tap.site(gelu(&(x + u)?)?)?;
        }
        Ok(x)
    }

    pub fn macs(&self, mut h: usize, mut w: usize) -> u64 {
        let mut total = self.whiten.macs(h, w);
        for [a, b] in &self.groups {
            total += a.conv.macs(h, w);
            (h, w) = (super::config::pool_out(h, 2, 2), super::config::pool_out(w, 2, 2));
            total += b.conv.macs(h, w);
        }
        total + self.blocks.iter().map(|[a, b]| a.conv.macs(h, w) + b.conv.macs(h, w)).sum::<u64>()
    }
}

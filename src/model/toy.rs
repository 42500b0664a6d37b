//! The paper's toy CNN trunk: conv3x3+BN+ReLU ×3, max-pool 3/2 after the first two.
//! (Its two dense layers are the `mlp` head.)
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{kaiming, max_pool_3s2, BatchNorm, Conv, Ctx};
use super::Tap;

#[derive(Debug, Clone)]
pub struct Toy {
    layers: Vec<(Conv, BatchNorm)>,
}

impl Toy {
    pub fn new(vb: VarBuilder, cin: usize, channels: [usize; 3], stat_sets: usize) -> Result<Self> {
        let mut layers = Vec::new();
        let mut c_prev = cin;
        for (i, &c) in channels.iter().enumerate() {
            let vb = vb.pp(format!("conv{}", i + 1));
            let conv = Conv::new(vb.pp("conv"), c_prev, c, 3, 1, false, kaiming(c_prev * 9))?;
            layers.push((conv, BatchNorm::new(vb.pp("bn"), c, stat_sets)?));
            c_prev = c;
        }
        Ok(Toy { layers })
    }

    pub fn forward(&self, x: &Tensor, ctx: Ctx, tap: &mut Tap) -> Result<Tensor> {
        let mut x = x.clone();
        for (i, (conv, bn)) in self.layers.iter().enumerate() {
            x = tap.site(bn.forward_relu(&conv.forward(&x)?, ctx)?)?;
            if i < 2 {
                x = max_pool_3s2(&x)?;
            }
        }
        Ok(x)
    }

    pub fn macs(&self, mut h: usize, mut w: usize) -> u64 {
        let mut total = 0;
        for (i, (conv, _)) in self.layers.iter().enumerate() {
            total += conv.macs(h, w);
            if i < 2 {
                h = super::config::pool_out(h, 3, 2);
                w = super::config::pool_out(w, 3, 2);
            }
        }
        total
    }
}

//! GAttANet: global attention agreement (VanRullen & Alamia, 2021), as in the paper's Fig. 1.
//!
//! For every attended layer l with activation a_l (conv: C×H×W, dense: C units):
//!
//! ```text
//!   keys      k_l = K_lᵀ a_l   at every position        (dense: k_l[c] = a_l[c] · K_l[c])
//!   queries   q_l = Q_lᵀ a_l   at every position        (dense: q_l[c] = a_l[c] · Q_l[c])
//!   global    q̄   = mean over layers of (mean over positions of q_l)      [layer-balanced]
//!                 or one mean over every position of every layer         [flat]
//!   agreement g_l = k_l · q̄       (conv: H×W map, dense: one value per unit)
//!   next pass ã_l = a_l ⊙ (1 + α_l · g_l)
//! ```
//!
//! Because the projections are linear and bias-free, q̄ and g are computed without building the
//! key and query maps: mean(Q_lᵀ a) = Q_lᵀ mean(a), and k·q̄ = (K_l q̄)ᵀ a. The explicit maps
//! (`keys`, `queries`) exist for tests that hold the two forms equal.
use candle_core::{Result, Tensor};
use candle_nn::{init::Init, VarBuilder};

use super::config::{AttentionConfig, QueryPooling};
use super::graph::SiteInfo;
use super::layers::uniform_fan_in;

/// Keys, queries and gain of one attended layer.
#[derive(Debug, Clone)]
pub struct AttendedLayer {
    pub name: String,
    /// K_l and Q_l: (C, d).
    pub key: Tensor,
    pub query: Tensor,
    /// α_l: shape (1).
    pub alpha: Tensor,
    /// Conv layers have [H, W]; dense layers None.
    pub spatial: Option<[usize; 2]>,
}

impl AttendedLayer {
    fn positions(&self) -> usize {
        match self.spatial {
            Some([h, w]) => h * w,
            None => self.key.dims()[0],
        }
    }
}

#[derive(Debug, Clone)]
pub struct GAttANet {
    pub layers: Vec<AttendedLayer>,
    pooling: QueryPooling,
    /// 1 or 1/√d.
    scale: f64,
    bounded: bool,
}

impl GAttANet {
    pub fn new(vb: VarBuilder, cfg: &AttentionConfig, sites: &[SiteInfo]) -> Result<Self> {
        let d = cfg.dim;
        let layers = sites
            .iter()
            .map(|s| {
                let vb = vb.pp(&s.name);
                Ok(AttendedLayer {
                    name: s.name.clone(),
                    key: vb.get_with_hints((s.channels, d), "key", uniform_fan_in(s.channels))?,
                    query: vb.get_with_hints((s.channels, d), "query", uniform_fan_in(s.channels))?,
                    alpha: vb.get_with_hints(1, "alpha", Init::Const(cfg.alpha_init))?,
                    spatial: s.spatial,
                })
            })
            .collect::<Result<_>>()?;
        let scale = if cfg.scale_by_sqrt_d { 1.0 / (d as f64).sqrt() } else { 1.0 };
        Ok(GAttANet { layers, pooling: cfg.pooling, scale, bounded: cfg.bounded })
    }

    /// Mean query of layer l, (B, d): Q_lᵀ · mean over positions of a_l.
    pub fn layer_query(&self, l: usize, a: &Tensor) -> Result<Tensor> {
        let layer = &self.layers[l];
        match layer.spatial {
            Some(_) => a.mean((2, 3))?.matmul(&layer.query),
            None => a.matmul(&layer.query)? / layer.positions() as f64,
        }
    }

    /// The global query q̄ (B, d) from every attended layer's activation.
    pub fn global_query(&self, acts: &[Tensor]) -> Result<Tensor> {
        let per_layer = acts.iter().enumerate().map(|(l, a)| self.layer_query(l, a)).collect::<Result<Vec<_>>>()?;
        match self.pooling {
            QueryPooling::LayerBalanced => Tensor::stack(&per_layer, 0)?.mean(0),
            QueryPooling::Flat => {
                let total: usize = self.layers.iter().map(|l| l.positions()).sum();
                let mut sum = per_layer[0].affine(self.layers[0].positions() as f64, 0.0)?;
                for (l, q) in per_layer.iter().enumerate().skip(1) {
                    sum = (sum + q.affine(self.layers[l].positions() as f64, 0.0)?)?;
                }
                sum / total as f64
            }
        }
    }

    /// Agreement g_l = k_l · q̄: (B, H, W) for conv layers, (B, C) for dense layers.
    pub fn agreement(&self, l: usize, a: &Tensor, q: &Tensor) -> Result<Tensor> {
        let layer = &self.layers[l];
        let w = q.matmul(&layer.key.t()?)?; // (B, C): K_l q̄, one weight per channel/unit
        let g = match layer.spatial {
            Some([h, wd]) => {
                let (b, c, _, _) = a.dims4()?;
                w.unsqueeze(1)?.matmul(&a.reshape((b, c, h * wd))?)?.reshape((b, h, wd))?
            }
            None => (a * w)?,
        };
        g.affine(self.scale, 0.0)
    }

    /// Gain 1 + α·g (or 1 + α·tanh g when bounded), same shape as g.
    pub fn gain(&self, g: &Tensor, alpha: &Tensor) -> Result<Tensor> {
        let g = if self.bounded { g.tanh()? } else { g.clone() };
        g.broadcast_mul(alpha)? + 1.0
    }

    /// The explicit key map: (B, d, H, W) for conv layers, (B, C, d) for dense layers.
    pub fn keys(&self, l: usize, a: &Tensor) -> Result<Tensor> {
        project(a, &self.layers[l].key)
    }

    /// The explicit query map, same shapes as `keys`.
    pub fn queries(&self, l: usize, a: &Tensor) -> Result<Tensor> {
        project(a, &self.layers[l].query)
    }

    /// Agreement computed the long way: build keys and all queries, average, dot.
    pub fn agreement_explicit(&self, acts: &[Tensor]) -> Result<Vec<Tensor>> {
        let mut pooled = Vec::new(); // per layer: (sum of queries over positions, positions)
        for (l, a) in acts.iter().enumerate() {
            let q = self.queries(l, a)?;
            let n = self.layers[l].positions();
            let sum = match self.layers[l].spatial {
                Some(_) => q.sum((2, 3))?,
                None => q.sum(1)?,
            };
            pooled.push((sum, n));
        }
        let q_avg = match self.pooling {
            QueryPooling::LayerBalanced => {
                let means = pooled.iter().map(|(s, n)| s / *n as f64).collect::<Result<Vec<_>>>()?;
                Tensor::stack(&means, 0)?.mean(0)?
            }
            QueryPooling::Flat => {
                let total: usize = pooled.iter().map(|(_, n)| n).sum();
                let sums = pooled.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>();
                (Tensor::stack(&sums, 0)?.sum(0)? / total as f64)?
            }
        };
        acts.iter()
            .enumerate()
            .map(|(l, a)| {
                let k = self.keys(l, a)?;
                let g = match self.layers[l].spatial {
                    Some(_) => k.broadcast_mul(&q_avg.unsqueeze(2)?.unsqueeze(3)?)?.sum(1)?,
                    None => k.broadcast_mul(&q_avg.unsqueeze(1)?)?.sum(2)?,
                };
                g.affine(self.scale, 0.0)
            })
            .collect()
    }
}

/// Multiply activations by their gain: one gain per position (shared by all channels) for conv
/// layers, one per unit for dense layers.
pub fn modulate(a: &Tensor, gain: &Tensor) -> Result<Tensor> {
    match a.rank() {
        4 if a.device().is_cpu() => crate::kernels::scale_positions(a, gain), // same product, one-pass backward
        4 => a.broadcast_mul(&gain.unsqueeze(1)?),
        _ => a * gain,
    }
}

/// a (B, C, H, W) with P (C, d) → (B, d, H, W); a (B, C) → (B, C, d) with row c scaled by a[c].
fn project(a: &Tensor, p: &Tensor) -> Result<Tensor> {
    match a.rank() {
        4 => {
            let (b, c, h, w) = a.dims4()?;
            let d = p.dim(1)?;
            p.t()?.broadcast_matmul(&a.reshape((b, c, h * w))?)?.reshape((b, d, h, w))
        }
        _ => a.unsqueeze(2)?.broadcast_mul(&p.unsqueeze(0)?),
    }
}

//! GELU (exact, erf form) with a one-pass backward: candle's backward for `gelu_erf` composes
//! about eight map-sized ops (erf, square, exp, products and sums).
use candle_core::{cpu::erf::erf_f32, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::{par_blocks, slice, output, with_f32};

const UNIT: usize = 4096;

/// Apply `f` elementwise in parallel blocks (the tail block may be short).
fn map(x: &[f32], f: impl Fn(usize, f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = output(x.len());
    let whole = x.len() / UNIT * UNIT;
    let (head, tail) = out.split_at_mut(whole);
    par_blocks(head, UNIT, |b0, block| {
        for (i, o) in block.iter_mut().enumerate() {
            let j = b0 * UNIT + i;
            *o = f(j, x[j]);
        }
    });
    for (i, o) in tail.iter_mut().enumerate() {
        *o = f(whole + i, x[whole + i]);
    }
    out
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu_erf_fused"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        // Bit for bit candle's gelu_erf.
        let y = map(slice(s, l)?, |_, v| (erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * v);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // d/dx x·Φ(x) = Φ(x) + x·φ(x)
        let inv_sqrt_2pi = 1.0 / (2.0 * std::f32::consts::PI).sqrt();
        let dx = with_f32(x, |xs| {
            with_f32(grad, |g| {
                Ok(map(xs, |i, v| {
                    let cdf = 0.5 * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2));
                    g[i] * (cdf + v * (-0.5 * v * v).exp() * inv_sqrt_2pi)
                }))
            })
        })?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// Exact GELU, x·Φ(x): the same values as candle's `gelu_erf`, with a fused backward.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(GeluErf)
}

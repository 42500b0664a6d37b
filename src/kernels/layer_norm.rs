//! LayerNorm over the channels of an NCHW map (PatchConvNet's block norm): the composed form
//! reduces over a strided middle dimension and builds about a dozen map-sized temporaries, each
//! with a broadcast backward.
use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::{channel_sums, grads3, lane_sum, output, par_each, slice, with_f32, Grads3};

struct LayerNormChannels {
    eps: f64,
    /// Mean and 1/√(var + eps) at each (image, position), for the backward.
    saved: Mutex<(Vec<f32>, Vec<f32>)>,
}

/// Per image: the mean and reciprocal standard deviation over channels at each position.
fn stats(x: &[f32], c: usize, hw: usize, eps: f64) -> (Vec<f32>, Vec<f32>) {
    let mut mean = vec![0f32; hw];
    for ch in 0..c {
        for (m, &v) in mean.iter_mut().zip(&x[ch * hw..(ch + 1) * hw]) {
            *m += v;
        }
    }
    let inv_c = 1.0 / c as f32;
    mean.iter_mut().for_each(|m| *m *= inv_c);
    let mut var = vec![0f32; hw];
    for ch in 0..c {
        for ((s, &v), &m) in var.iter_mut().zip(&x[ch * hw..(ch + 1) * hw]).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    let rstd = var.iter().map(|&s| (1.0 / (f64::from(s * inv_c) + eps).sqrt()) as f32).collect();
    (mean, rstd)
}

impl CustomOp3 for LayerNormChannels {
    fn name(&self) -> &'static str {
        "layer_norm_channels"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l1.shape().dims4()?;
        let (x, gamma, beta) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (hw, unit) = (h * w, c * h * w);
        let mut y = output(x.len());
        let saved = Mutex::new((vec![0f32; b * hw], vec![0f32; b * hw]));
        par_each(&mut y, unit, |bi, out| {
            let xi = &x[bi * unit..(bi + 1) * unit];
            let (mean, rstd) = stats(xi, c, hw, self.eps);
            for ch in 0..c {
                let (g, be) = (gamma[ch], beta[ch]);
                let row = ch * hw..(ch + 1) * hw;
                for (((o, &v), &m), &r) in out[row.clone()].iter_mut().zip(&xi[row]).zip(&mean).zip(&rstd) {
                    *o = (v - m) * r * g + be;
                }
            }
            let mut s = saved.lock().expect("saved lock");
            s.0[bi * hw..(bi + 1) * hw].copy_from_slice(&mean);
            s.1[bi * hw..(bi + 1) * hw].copy_from_slice(&rstd);
        });
        *self.saved.lock().expect("saved lock") = saved.into_inner().expect("saved lock");
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, gamma: &Tensor, _beta: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let (b, c, h, w) = x.dims4()?;
        let (hw, unit) = (h * w, c * h * w);
        let gamma_v = gamma.flatten_all()?.to_vec1::<f32>()?;
        let saved = self.saved.lock().expect("saved lock");
        let (mean, rstd) = (&saved.0, &saved.1);
        let (dx, dgamma, dbeta) = with_f32(x, |x| {
            with_f32(grad, |g| {
                // x̂ = (x − mean)·rstd;  dx̂ = dy·γ;  dx = rstd·(dx̂ − mean_c(dx̂) − x̂·mean_c(dx̂·x̂))
                let mut dx = output(x.len());
                par_each(&mut dx, unit, |bi, out| {
                    let (xi, gi) = (&x[bi * unit..(bi + 1) * unit], &g[bi * unit..(bi + 1) * unit]);
                    let (m, r) = (&mean[bi * hw..(bi + 1) * hw], &rstd[bi * hw..(bi + 1) * hw]);
                    let (mut s1, mut s2) = (vec![0f32; hw], vec![0f32; hw]);
                    for (ch, &gm) in gamma_v.iter().enumerate() {
                        let row = ch * hw..(ch + 1) * hw;
                        for p in 0..hw {
                            let d = gi[row.start + p] * gm;
                            s1[p] += d;
                            s2[p] += d * (xi[row.start + p] - m[p]) * r[p];
                        }
                    }
                    let inv_c = 1.0 / c as f32;
                    for (ch, &gm) in gamma_v.iter().enumerate() {
                        let row = ch * hw..(ch + 1) * hw;
                        for p in 0..hw {
                            let xh = (xi[row.start + p] - m[p]) * r[p];
                            out[row.start + p] = r[p] * (gi[row.start + p] * gm - s1[p] * inv_c - xh * s2[p] * inv_c);
                        }
                    }
                });
                let sums = channel_sums(b, c, |_, plane| {
                    let bi = plane / c;
                    let (xs, gs) = (&x[plane * hw..(plane + 1) * hw], &g[plane * hw..(plane + 1) * hw]);
                    let (m, r) = (&mean[bi * hw..(bi + 1) * hw], &rstd[bi * hw..(bi + 1) * hw]);
                    (lane_sum(hw, |p| gs[p]), lane_sum(hw, |p| gs[p] * (xs[p] - m[p]) * r[p]))
                });
                let dgamma: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
                let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
                Ok((dx, dgamma, dbeta))
            })
        })?;
        grads3([x, gamma, gamma], [dx, dgamma, dbeta])
    }
}

/// LayerNorm of x (B, C, H, W) over C at each position: (x − mean)/√(var + eps)·γ + β with the
/// biased variance; differentiable in x, γ and β (shape (C)).
pub fn layer_norm_channels(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    let (_, c, _, _) = x.dims4()?;
    if gamma.elem_count() != c || beta.elem_count() != c {
        bail!("layer_norm_channels: {c} channels but γ {:?} and β {:?}", gamma.dims(), beta.dims());
    }
    let op = LayerNormChannels { eps, saved: Mutex::new((Vec::new(), Vec::new())) };
    x.contiguous()?.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)
}

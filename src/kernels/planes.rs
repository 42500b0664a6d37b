//! Broadcast products and sums over NCHW maps: a per-channel bias, a per-channel or per-plane
//! scale (layer scale, squeeze-excitation gates) and a per-position gain shared by all channels
//! (GAttANet's modulation). candle computes their backward with strided reductions over the
//! broadcast axes and zero-filled buffers; here each gradient is one pass.
use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::{channel_sums, lane_sum, output, par_each, par_map, slice, with_f32};

/// x (B, C, H, W) + bias[c].
struct AddChannelBias {
    dims: (usize, usize, usize),
}

impl CustomOp2 for AddChannelBias {
    fn name(&self) -> &'static str {
        "add_channel_bias"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, bias) = (slice(s1, l1)?, slice(s2, l2)?);
        let (_, c, hw) = self.dims;
        let mut y = output(x.len());
        par_each(&mut y, hw, |p, out| {
            let b = bias[p % c];
            for (o, &v) in out.iter_mut().zip(&x[p * hw..(p + 1) * hw]) {
                *o = v + b;
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, bias: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, c, hw) = self.dims;
        let db = with_f32(grad, |g| Ok(channel_sums(b, c, |_, p| (lane_sum(hw, |i| g[p * hw + i]), 0.0))))?;
        let db: Vec<f32> = db.iter().map(|s| s.0 as f32).collect();
        Ok((Some(grad.clone()), Some(Tensor::from_vec(db, bias.shape(), grad.device())?)))
    }
}

/// x (B, C, H, W) · s[plane], s with C (per channel) or B·C (per image and channel) values.
struct ScalePlanes {
    dims: (usize, usize, usize),
}

impl CustomOp2 for ScalePlanes {
    fn name(&self) -> &'static str {
        "scale_planes"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, s) = (slice(s1, l1)?, slice(s2, l2)?);
        let hw = self.dims.2;
        let mut y = output(x.len());
        par_each(&mut y, hw, |p, out| {
            let k = s[p % s.len()];
            for (o, &v) in out.iter_mut().zip(&x[p * hw..(p + 1) * hw]) {
                *o = v * k;
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, s: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, c, hw) = self.dims;
        let sv = s.flatten_all()?.to_vec1::<f32>()?;
        let (dx, ds) = with_f32(x, |x| {
            with_f32(grad, |g| {
                let mut dx = output(x.len());
                par_each(&mut dx, hw, |p, out| {
                    let k = sv[p % sv.len()];
                    for (o, &d) in out.iter_mut().zip(&g[p * hw..(p + 1) * hw]) {
                        *o = d * k;
                    }
                });
                let dot = |p: usize| lane_sum(hw, |i| g[p * hw + i] * x[p * hw + i]);
                let ds: Vec<f32> = if sv.len() == c {
                    channel_sums(b, c, |_, p| (dot(p), 0.0)).iter().map(|s| s.0 as f32).collect()
                } else {
                    par_map(b * c, |p| dot(p) as f32)
                };
                Ok((dx, ds))
            })
        })?;
        let dev = x.device();
        Ok((Some(Tensor::from_vec(dx, x.shape(), dev)?), Some(Tensor::from_vec(ds, s.shape(), dev)?)))
    }
}

/// a (B, C, H, W) · gain[b, y, x]: one gain per position, shared by the channels.
struct ScalePositions {
    dims: (usize, usize, usize),
}

impl CustomOp2 for ScalePositions {
    fn name(&self) -> &'static str {
        "scale_positions"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, gain) = (slice(s1, l1)?, slice(s2, l2)?);
        let (_, c, hw) = self.dims;
        let mut y = output(a.len());
        par_each(&mut y, hw, |p, out| {
            let g = &gain[(p / c) * hw..(p / c + 1) * hw];
            for ((o, &v), &k) in out.iter_mut().zip(&a[p * hw..(p + 1) * hw]).zip(g) {
                *o = v * k;
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, a: &Tensor, gain: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, c, hw) = self.dims;
        let (da, dgain) = with_f32(a, |a| {
            with_f32(gain, |gain| {
                with_f32(grad, |g| {
                    let mut da = output(a.len());
                    par_each(&mut da, hw, |p, out| {
                        let k = &gain[(p / c) * hw..(p / c + 1) * hw];
                        for ((o, &d), &kv) in out.iter_mut().zip(&g[p * hw..(p + 1) * hw]).zip(k) {
                            *o = d * kv;
                        }
                    });
                    // dgain[b, p] = Σ_c dy·a, accumulated plane by plane.
                    let mut dgain = vec![0f32; b * hw];
                    par_each(&mut dgain, hw, |bi, out| {
                        for ch in 0..c {
                            let p = bi * c + ch;
                            for ((o, &d), &v) in out.iter_mut().zip(&g[p * hw..(p + 1) * hw]).zip(&a[p * hw..(p + 1) * hw]) {
                                *o += d * v;
                            }
                        }
                    });
                    Ok((da, dgain))
                })
            })
        })?;
        let dev = a.device();
        Ok((Some(Tensor::from_vec(da, a.shape(), dev)?), Some(Tensor::from_vec(dgain, gain.shape(), dev)?)))
    }
}

fn map_dims(x: &Tensor) -> Result<(usize, usize, usize)> {
    let (b, c, h, w) = x.dims4()?;
    Ok((b, c, h * w))
}

/// x (B, C, H, W) + bias (C) broadcast over images and positions.
pub fn add_channel_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let dims = map_dims(x)?;
    if bias.elem_count() != dims.1 {
        bail!("add_channel_bias: {} channels but bias {:?}", dims.1, bias.dims());
    }
    x.contiguous()?.apply_op2(&bias.contiguous()?, AddChannelBias { dims })
}

/// x (B, C, H, W) times a scale per channel (C values) or per image and channel (B·C values).
pub fn scale_planes(x: &Tensor, s: &Tensor) -> Result<Tensor> {
    let dims = map_dims(x)?;
    if s.elem_count() != dims.1 && s.elem_count() != dims.0 * dims.1 {
        bail!("scale_planes: map {:?} but scale {:?}", x.dims(), s.dims());
    }
    x.contiguous()?.apply_op2(&s.contiguous()?, ScalePlanes { dims })
}

/// a (B, C, H, W) times gain (B, H, W), the same gain for every channel at a position.
pub fn scale_positions(a: &Tensor, gain: &Tensor) -> Result<Tensor> {
    let dims = map_dims(a)?;
    if gain.elem_count() != dims.0 * dims.2 {
        bail!("scale_positions: map {:?} but gain {:?}", a.dims(), gain.dims());
    }
    a.contiguous()?.apply_op2(&gain.contiguous()?, ScalePositions { dims })
}

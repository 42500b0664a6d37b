//! Depthwise 3x3 convolution, stride 1, zero padding 1, with bias (PatchConvNet's spatial mixing).
//! candle's grouped conv runs one convolution per channel, and the nine shifted multiply-adds
//! that replace it build padded copies and strided broadcasts; here each plane is one stencil.
use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::{grads3, output, par_each, par_map, slice, with_f32, Grads3};

/// out = Σ_k w[k]·src shifted by (ky − 1, kx − 1), zero outside: one h×w plane, out overwritten.
fn stencil(src: &[f32], h: usize, w: usize, wt: &[f32; 9], init: f32, out: &mut [f32]) {
    out.fill(init);
    for oy in 0..h {
        let row = &mut out[oy * w..(oy + 1) * w];
        for ky in 0..3 {
            let Some(iy) = (oy + ky).checked_sub(1).filter(|&iy| iy < h) else { continue };
            let s = &src[iy * w..(iy + 1) * w];
            let (w0, w1, w2) = (wt[ky * 3], wt[ky * 3 + 1], wt[ky * 3 + 2]);
            // kx = 1: aligned; kx = 0 reads one column left, kx = 2 one column right.
            for (o, &v) in row.iter_mut().zip(s) {
                *o += w1 * v;
            }
            for (o, &v) in row[1..].iter_mut().zip(s) {
                *o += w0 * v;
            }
            for (o, &v) in row.iter_mut().zip(&s[1..]) {
                *o += w2 * v;
            }
        }
    }
}

fn taps(weight: &[f32], ch: usize) -> [f32; 9] {
    weight[ch * 9..(ch + 1) * 9].try_into().expect("nine taps")
}

struct Depthwise3;

impl CustomOp3 for Depthwise3 {
    fn name(&self) -> &'static str {
        "depthwise3"
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
        let (_, c, h, w) = l1.shape().dims4()?;
        let (x, weight, bias) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let hw = h * w;
        let mut y = output(x.len());
        par_each(&mut y, hw, |p, out| {
            stencil(&x[p * hw..(p + 1) * hw], h, w, &taps(weight, p % c), bias[p % c], out);
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, weight: &Tensor, bias: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let (b, c, h, w) = x.dims4()?;
        let hw = h * w;
        let wv = weight.flatten_all()?.to_vec1::<f32>()?;
        let (dx, dw, db) = with_f32(x, |x| {
            with_f32(grad, |g| {
                // dx: the same stencil over dy with the kernel rotated by 180°.
                let mut dx = output(x.len());
                par_each(&mut dx, hw, |p, out| {
                    let mut flipped = taps(&wv, p % c);
                    flipped.reverse();
                    stencil(&g[p * hw..(p + 1) * hw], h, w, &flipped, 0.0, out);
                });
                // dw[k] = Σ over images and positions of dy · (x shifted by k); db = Σ dy.
                let per_channel = par_map(c, |ch| {
                    let mut acc = [0f64; 10];
                    for bi in 0..b {
                        let p = bi * c + ch;
                        let (xs, gs) = (&x[p * hw..(p + 1) * hw], &g[p * hw..(p + 1) * hw]);
                        for oy in 0..h {
                            let grow = &gs[oy * w..(oy + 1) * w];
                            acc[9] += f64::from(grow.iter().sum::<f32>());
                            for ky in 0..3 {
                                let Some(iy) = (oy + ky).checked_sub(1).filter(|&iy| iy < h) else { continue };
                                let s = &xs[iy * w..(iy + 1) * w];
                                let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f32>();
                                acc[ky * 3] += f64::from(dot(&grow[1..], s));
                                acc[ky * 3 + 1] += f64::from(dot(grow, s));
                                acc[ky * 3 + 2] += f64::from(dot(grow, &s[1..]));
                            }
                        }
                    }
                    acc
                });
                let dw: Vec<f32> = per_channel.iter().flat_map(|a| a[..9].iter().map(|&v| v as f32)).collect();
                let db: Vec<f32> = per_channel.iter().map(|a| a[9] as f32).collect();
                Ok((dx, dw, db))
            })
        })?;
        grads3([x, weight, bias], [dx, dw, db])
    }
}

/// Depthwise 3x3 convolution of x (B, C, H, W) with weight (C, 1, 3, 3) and bias (C), stride 1,
/// padding 1; differentiable in all three.
pub fn depthwise3(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let (_, c, _, _) = x.dims4()?;
    if weight.dims() != [c, 1, 3, 3] || bias.elem_count() != c {
        bail!("depthwise3: {c} channels but weight {:?} and bias {:?}", weight.dims(), bias.dims());
    }
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, Depthwise3)
}

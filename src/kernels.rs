//! CPU kernels with explicit backward passes. Training on two cores is dominated by a few ops
//! that candle composes slowly: conv2d's backward (a direct transposed convolution, and a weight
//! gradient computed as a convolution with a feature-map-sized kernel), the differentiable
//! max-pool (shifted maxima + index_select) and BatchNorm's graph of broadcast ops. Here:
//!
//! - [`conv2d`]: im2col + one large matrix product, so forward and both gradients are GEMMs;
//! - [`max_pool`]: max-pool k×k stride 2 whose backward routes the gradient to the first max;
//! - [`batch_norm_train`]: BatchNorm with batch statistics in two passes, and its closed-form
//!   backward, returning the batch mean and variance for the running statistics;
//!   [`batch_norm_relu_train`] is the same followed by a ReLU in the same pass. A separate ReLU
//!   node costs candle about six passes over the map in the backward (a zero map, a comparison,
//!   a conversion, a product, a zero-filled gradient buffer and a sum).
//!
//! - [`layer_norm_channels`], [`depthwise3`], [`gelu_erf`]: PatchConvNet's block ops, which
//!   candle composes from many map-sized broadcasts (see each module);
//! - [`add_channel_bias`], [`scale_planes`], [`scale_positions`]: broadcast sums and products
//!   whose backward candle computes with strided reductions.
//!
//! All are plain Rust on `f32` slices, parallel on candle's CPU worker pool, CPU only, and tested against the
//! composed candle forms (values and gradients).
use std::sync::{Arc, Mutex};

mod depthwise;
mod gelu;
mod layer_norm;
mod planes;

pub use depthwise::depthwise3;
pub use gelu::gelu_erf;
pub use layer_norm::layer_norm_channels;
pub use planes::{add_channel_bias, scale_planes, scale_positions};

use crate::model::graph::pool_out;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Storage, Tensor};

/// Borrow a tensor's data as a contiguous f32 slice.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => {
            let data = s.as_slice::<f32>()?;
            f(&data[layout.start_offset()..layout.start_offset() + layout.shape().elem_count()])
        }
        _ => bail!("these kernels run on the CPU only"),
    }
}

/// The f32 data of a storage argument of a custom op.
fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    if !l.is_contiguous() {
        bail!("kernel input must be contiguous");
    }
    let data = s.as_slice::<f32>()?;
    Ok(&data[l.start_offset()..l.start_offset() + l.shape().elem_count()])
}

/// The output buffer of a kernel, which the caller overwrites completely. Zeroed all the same:
/// `set_len` over uninitialised memory breaks `Vec`'s contract (undefined behaviour, even for
/// f32). The zeroing did not show in `gattanet bench --train` (three builds A/B/A/B in one
/// session, uninitialised, zeroed, and `MaybeUninit` writes for the two largest buffers, were
/// within the run-to-run spread of about ±5 %).
fn output(n: usize) -> Vec<f32> {
    vec![0f32; n]
}

/// Split `out` into blocks of `unit` elements and run `f(first_block_index, blocks)` on runs of
/// blocks in parallel, on candle's CPU worker pool (inline where it has no workers, as on wasm).
fn par_blocks(out: &mut [f32], unit: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let blocks = out.len() / unit.max(1);
    debug_assert_eq!(blocks * unit, out.len(), "whole blocks only");
    if blocks <= 1 || out.len() < 16 * 1024 {
        f(0, out);
        return;
    }
    let ptr = out.as_mut_ptr() as usize;
    candle_core::utils::barrier_pool().execute_chunked(blocks, |r| {
        // SAFETY: the ranges handed out by execute_chunked are disjoint and within `blocks`.
        let chunk = unsafe { std::slice::from_raw_parts_mut((ptr as *mut f32).add(r.start * unit), r.len() * unit) };
        f(r.start, chunk);
    });
}

/// `f(i, block)` for each block of `unit` elements of `out` (a plane, an image, a row), in
/// parallel: [`par_blocks`] one block at a time.
fn par_each(out: &mut [f32], unit: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    par_blocks(out, unit, |first, blocks| {
        for (i, block) in blocks.chunks_mut(unit).enumerate() {
            f(first + i, block);
        }
    });
}

/// The gradients of a three-input op, each shaped like its input.
type Grads3 = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

fn grads3(inputs: [&Tensor; 3], grads: [Vec<f32>; 3]) -> Result<Grads3> {
    let [a, b, c] = grads;
    let tensor = |g: Vec<f32>, t: &Tensor| Tensor::from_vec(g, t.shape(), t.device()).map(Some);
    Ok((tensor(a, inputs[0])?, tensor(b, inputs[1])?, tensor(c, inputs[2])?))
}

/// `f(i)` for i in 0..n in parallel; results in order.
fn par_map<T: Copy + Default + Send + Sync>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut out = vec![T::default(); n];
    let ptr = out.as_mut_ptr() as usize;
    candle_core::utils::barrier_pool().execute_chunked(n, |r| {
        for i in r {
            // SAFETY: each index is written by exactly one range.
            unsafe { *(ptr as *mut T).add(i) = f(i) };
        }
    });
    out
}

// ---------------------------------------------------------------------------------------------
// Convolution

/// Geometry of a convolution.
#[derive(Debug, Clone, Copy)]
struct ConvGeom {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
}

impl ConvGeom {
    fn out(&self) -> (usize, usize) {
        ((self.h + 2 * self.padding - self.kh) / self.stride + 1, (self.w + 2 * self.padding - self.kw) / self.stride + 1)
    }
    fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
    fn cols(&self) -> usize {
        let (ho, wo) = self.out();
        self.b * ho * wo
    }
    /// For kernel column kx: the output columns whose input column is inside the image.
    fn valid_x(&self, kx: usize, wo: usize) -> (usize, usize) {
        let p = self.padding as isize;
        let s = self.stride as isize;
        let lo = (p - kx as isize).max(0);
        let lo = ((lo + s - 1) / s) as usize; // first ox with ox*s + kx - p >= 0
        let hi_in = self.w as isize + p - kx as isize; // need ox*s < w + p - kx
        let hi = if hi_in <= 0 { 0 } else { (((hi_in - 1) / s) + 1) as usize };
        (lo.min(wo), hi.min(wo).max(lo.min(wo)))
    }
}

/// (B, C, H, W) → columns (C·kh·kw, B·Ho·Wo); row (c, ky, kx), column (b, oy, ox).
fn im2col(x: &[f32], g: ConvGeom) -> Vec<f32> {
    let (ho, wo) = g.out();
    let n = g.cols();
    let mut col = output(g.rows() * n);
    par_each(&mut col, n, |k, row| {
        let (c, ky, kx) = (k / (g.kh * g.kw), (k / g.kw) % g.kh, k % g.kw);
        let (x0, x1) = g.valid_x(kx, wo);
        for b in 0..g.b {
            let plane = &x[(b * g.c + c) * g.h * g.w..(b * g.c + c + 1) * g.h * g.w];
            for oy in 0..ho {
                let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                let dst = &mut row[(b * ho + oy) * wo..(b * ho + oy + 1) * wo];
                if iy < 0 || iy >= g.h as isize {
                    dst.fill(0.0);
                    continue;
                }
                let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                dst[..x0].fill(0.0);
                dst[x1..].fill(0.0);
                if g.stride == 1 {
                    let ix0 = x0 + kx - g.padding;
                    dst[x0..x1].copy_from_slice(&src[ix0..ix0 + (x1 - x0)]);
                } else {
                    for ox in x0..x1 {
                        dst[ox] = src[ox * g.stride + kx - g.padding];
                    }
                }
            }
        }
    });
    col
}

/// The adjoint of [`im2col`]: columns back to (B, C, H, W), summing overlaps.
fn col2im(col: &[f32], g: ConvGeom) -> Vec<f32> {
    let (ho, wo) = g.out();
    let n = g.cols();
    let mut x = vec![0f32; g.b * g.c * g.h * g.w];
    par_blocks(&mut x, g.c * g.h * g.w, |b0, images| {
        for (bi, img) in images.chunks_mut(g.c * g.h * g.w).enumerate() {
            let b = b0 + bi;
            for k in 0..g.rows() {
                let (c, ky, kx) = (k / (g.kh * g.kw), (k / g.kw) % g.kh, k % g.kw);
                let (x0, x1) = g.valid_x(kx, wo);
                let row = &col[k * n..(k + 1) * n];
                let plane = &mut img[c * g.h * g.w..(c + 1) * g.h * g.w];
                for oy in 0..ho {
                    let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let src = &row[(b * ho + oy) * wo..(b * ho + oy + 1) * wo];
                    let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    if g.stride == 1 {
                        let ix0 = x0 + kx - g.padding;
                        for (d, s) in dst[ix0..ix0 + (x1 - x0)].iter_mut().zip(&src[x0..x1]) {
                            *d += s;
                        }
                    } else {
                        for ox in x0..x1 {
                            dst[ox * g.stride + kx - g.padding] += src[ox];
                        }
                    }
                }
            }
        }
    });
    x
}

/// Swap the two outer axes of an (A, B, M) array: out[b][a] = src[a][b], rows of M.
fn swap_outer(src: &[f32], a: usize, b: usize, m: usize) -> Vec<f32> {
    let mut out = output(src.len());
    par_each(&mut out, a * m, |j, block| {
        for (i, row) in block.chunks_mut(m).enumerate() {
            row.copy_from_slice(&src[(i * b + j) * m..(i * b + j + 1) * m]);
        }
    });
    out
}

/// Convolution as one custom op, so that neither the column matrix nor the reshapes around the
/// matrix product become graph nodes (candle zero-fills and adds a gradient buffer per node).
struct Conv2dOp {
    g: ConvGeom,
    out_channels: usize,
    /// The column matrix of the forward, kept for the weight gradient.
    col: Mutex<Option<Tensor>>,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "conv2d_gemm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.g;
        let (o, (ho, wo)) = (self.out_channels, g.out());
        let dev = candle_core::Device::Cpu;
        let col = Tensor::from_vec(im2col(slice(s1, l1)?, g), (g.rows(), g.cols()), &dev)?;
        let w = Tensor::from_slice(slice(s2, l2)?, (o, g.rows()), &dev)?;
        let y = with_f32(&w.matmul(&col)?, |y| Ok(swap_outer(y, o, g.b, ho * wo)))?; // (O, B, HW) → (B, O, HW)
        *self.col.lock().expect("col lock") = Some(col);
        Ok((CpuStorage::F32(y), Shape::from((g.b, o, ho, wo))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = self.g;
        let (o, (ho, wo)) = (self.out_channels, g.out());
        let col = self.col.lock().expect("col lock").clone();
        let Some(col) = col else { bail!("conv2d backward without its forward") };
        let dev = grad.device();
        let gm = Tensor::from_vec(with_f32(grad, |d| Ok(swap_outer(d, g.b, o, ho * wo)))?, (o, g.cols()), dev)?;
        let dw = gm.matmul(&col.t()?)?.reshape(w.shape())?;
        if !x.track_op() {
            return Ok((None, Some(dw))); // the input image of the first layer: no gradient wanted
        }
        let dcol = w.detach().reshape((o, g.rows()))?.t()?.matmul(&gm)?;
        let dx = with_f32(&dcol, |c| Ok(col2im(c, g)))?;
        Ok((Some(Tensor::from_vec(dx, (g.b, g.c, g.h, g.w), dev)?), Some(dw)))
    }
}

/// 2-D convolution (groups = 1, dilation 1) of x (B, C, H, W) with weight (O, C, kh, kw):
/// im2col, then one matrix product (O, C·kh·kw) × (C·kh·kw, B·Ho·Wo). Differentiable in both
/// arguments; both gradients are matrix products too.
pub fn conv2d(x: &Tensor, weight: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let (o, ci, kh, kw) = weight.dims4()?;
    if ci != c || h + 2 * padding < kh || w + 2 * padding < kw || stride == 0 {
        bail!("conv2d: input {:?} does not fit weight {:?} (padding {padding}, stride {stride})", x.dims(), weight.dims());
    }
    let g = ConvGeom { b, c, h, w, kh, kw, stride, padding };
    x.contiguous()?.apply_op2(&weight.contiguous()?, Conv2dOp { g, out_channels: o, col: Mutex::new(None) })
}

// ---------------------------------------------------------------------------------------------
// Max-pool k×k (k = 2 or 3), stride 2, no padding

/// The forward pass remembers, for every output, which of its k² inputs was the (first) maximum.
struct MaxPool {
    k: usize,
    argmax: Mutex<Vec<u8>>,
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max_pool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let k = self.k;
        let (b, c, h, w) = l.shape().dims4()?;
        let x = slice(s, l)?;
        let (ho, wo) = (pool_out(h, k, 2), pool_out(w, k, 2));
        let mut y = output(b * c * ho * wo);
        let mut arg = vec![0u8; b * c * ho * wo];
        let arg_ptr = arg.as_mut_ptr() as usize;
        par_each(&mut y, ho * wo, |p, out| {
            let src = &x[p * h * w..(p + 1) * h * w];
            // SAFETY: plane p's argmax bytes belong to this block only.
            let am = unsafe { std::slice::from_raw_parts_mut((arg_ptr as *mut u8).add(p * ho * wo), ho * wo) };
            for oy in 0..ho {
                for ox in 0..wo {
                    let (mut m, mut arg) = (src[2 * oy * w + 2 * ox], 0u8);
                    for dy in 0..k {
                        let row = &src[(2 * oy + dy) * w + 2 * ox..][..k];
                        for (dx, &v) in row.iter().enumerate() {
                            if v > m {
                                m = v;
                                arg = (dy * k + dx) as u8;
                            }
                        }
                    }
                    out[oy * wo + ox] = m;
                    am[oy * wo + ox] = arg;
                }
            }
        });
        *self.argmax.lock().expect("argmax lock") = arg;
        Ok((CpuStorage::F32(y), Shape::from((b, c, ho, wo))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let k = self.k;
        let (b, c, h, w) = arg.dims4()?;
        let (ho, wo) = (pool_out(h, k, 2), pool_out(w, k, 2));
        let argmax = self.argmax.lock().expect("argmax lock");
        let dx = with_f32(grad, |g| {
            let mut dx = vec![0f32; b * c * h * w];
            par_each(&mut dx, h * w, |p, d| {
                let (gp, am) = (&g[p * ho * wo..(p + 1) * ho * wo], &argmax[p * ho * wo..(p + 1) * ho * wo]);
                for oy in 0..ho {
                    for ox in 0..wo {
                        let a = am[oy * wo + ox] as usize;
                        d[(2 * oy + a / k) * w + 2 * ox + a % k] += gp[oy * wo + ox];
                    }
                }
            });
            Ok(dx)
        })?;
        Ok(Some(Tensor::from_vec(dx, (b, c, h, w), arg.device())?))
    }
}

/// Max-pool k×k (k = 2 or 3), stride 2, no padding, on (B, C, H, W); differentiable.
pub fn max_pool(x: &Tensor, k: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if !(2..=3).contains(&k) || h < k || w < k {
        bail!("max_pool: window {k} on input {:?} (windows 2 and 3 fit inside the input)", x.dims());
    }
    x.contiguous()?.apply_op1(MaxPool { k, argmax: Mutex::new(Vec::new()) })
}

// ---------------------------------------------------------------------------------------------
// BatchNorm with batch statistics

/// Per-channel batch mean and (biased) variance of the last forward, for the running statistics.
type Stats = Arc<Mutex<Option<(Vec<f32>, Vec<f32>)>>>;

struct BatchNormTrain {
    eps: f64,
    /// Apply a ReLU to the output (and mask the gradient by output > 0, as PyTorch's ReLU does).
    relu: bool,
    stats: Stats,
    /// Mean and 1/√(var + eps) of the forward, for the backward.
    saved: Mutex<(Vec<f32>, Vec<f32>)>,
}

/// Σ f(i) over a slice, in eight f32 lanes (vectorised), returned as f64.
#[inline]
fn lane_sum(n: usize, f: impl Fn(usize) -> f32) -> f64 {
    let mut acc = [0f32; 8];
    let full = n / 8 * 8;
    for i in (0..full).step_by(8) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(i + l);
        }
    }
    let mut total: f64 = acc.iter().map(|&a| f64::from(a)).sum();
    for i in full..n {
        total += f64::from(f(i));
    }
    total
}

/// For each channel, the sums over its B planes of `f(plane)` (two values).
fn channel_sums(b: usize, c: usize, f: impl Fn(usize, usize) -> (f64, f64) + Sync) -> Vec<(f64, f64)> {
    par_map(c, |ch| {
        (0..b).fold((0.0, 0.0), |acc, bi| {
            let v = f(ch, bi * c + ch);
            (acc.0 + v.0, acc.1 + v.1)
        })
    })
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "batch_norm_train"
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
        let hw = h * w;
        let n = (b * hw) as f64;
        let plane = |p: usize| &x[p * hw..(p + 1) * hw];
        let sums = channel_sums(b, c, |_, p| {
            let v = plane(p);
            (lane_sum(hw, |i| v[i]), 0.0)
        });
        let mean: Vec<f32> = sums.iter().map(|s| (s.0 / n) as f32).collect();
        let sq = channel_sums(b, c, |ch, p| {
            let (v, m) = (plane(p), mean[ch]);
            (lane_sum(hw, |i| (v[i] - m) * (v[i] - m)), 0.0)
        });
        let var: Vec<f32> = sq.iter().map(|s| (s.0 / n) as f32).collect();
        let invstd: Vec<f32> = var.iter().map(|&v| (1.0 / (f64::from(v) + self.eps).sqrt()) as f32).collect();
        let scale: Vec<f32> = (0..c).map(|ch| gamma[ch] * invstd[ch]).collect();
        let shift: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
        let mut y = output(x.len());
        let relu = self.relu;
        par_each(&mut y, hw, |p, out| {
            let (k, d) = (scale[p % c], shift[p % c]);
            if relu {
                for (o, &v) in out.iter_mut().zip(plane(p)) {
                    *o = (v * k + d).max(0.0);
                }
            } else {
                for (o, &v) in out.iter_mut().zip(plane(p)) {
                    *o = v * k + d;
                }
            }
        });
        *self.saved.lock().expect("saved lock") = (mean.clone(), invstd);
        *self.stats.lock().expect("stats lock") = Some((mean, var));
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, gamma: &Tensor, beta: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Grads3> {
        let (b, c, h, w) = x.dims4()?;
        let hw = h * w;
        let n = (b * hw) as f64;
        let gamma_v = gamma.flatten_all()?.to_vec1::<f32>()?;
        let saved = self.saved.lock().expect("saved lock");
        let (mean, invstd) = (&saved.0, &saved.1);
        // With the ReLU: the gradient reaching the normalisation, dy where the output is positive.
        let masked = if self.relu {
            let dy = with_f32(grad, |g| {
                with_f32(res, |r| {
                    let mut dy = output(g.len());
                    par_blocks(&mut dy, hw, |p0, planes| {
                        let range = p0 * hw..p0 * hw + planes.len();
                        for ((o, &gv), &rv) in planes.iter_mut().zip(&g[range.clone()]).zip(&r[range]) {
                            *o = if rv > 0.0 { gv } else { 0.0 };
                        }
                    });
                    Ok(dy)
                })
            })?;
            Some(Tensor::from_vec(dy, grad.shape(), grad.device())?)
        } else {
            None
        };
        let grad = masked.as_ref().unwrap_or(grad);
        let (dx, dgamma, dbeta) = with_f32(x, |x| {
            with_f32(grad, |g| {
                // Σ dy and Σ dy·(x − mean) per channel.
                let sums = channel_sums(b, c, |ch, p| {
                    let (xs, gs, m) = (&x[p * hw..(p + 1) * hw], &g[p * hw..(p + 1) * hw], mean[ch]);
                    (lane_sum(hw, |i| gs[i]), lane_sum(hw, |i| gs[i] * (xs[i] - m)))
                });
                let mut dx = output(x.len());
                par_each(&mut dx, hw, |p, out| {
                    let ch = p % c;
                    let is = invstd[ch];
                    // dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)), x̂ = (x − mean)·invstd
                    let m_dy = (sums[ch].0 / n) as f32;
                    let m_dyx = (sums[ch].1 / n) as f32 * is; // mean(dy·x̂)
                    let (k, m, kx) = (gamma_v[ch] * is, mean[ch], is * m_dyx);
                    let (xs, gs) = (&x[p * hw..(p + 1) * hw], &g[p * hw..(p + 1) * hw]);
                    for ((o, &xv), &dy) in out.iter_mut().zip(xs).zip(gs) {
                        *o = k * (dy - m_dy - (xv - m) * kx);
                    }
                });
                let dgamma: Vec<f32> = sums.iter().zip(invstd).map(|(s, &is)| (s.1 * f64::from(is)) as f32).collect();
                let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
                Ok((dx, dgamma, dbeta))
            })
        })?;
        grads3([x, gamma, beta], [dx, dgamma, dbeta])
    }
}

/// BatchNorm of x (B, C, H, W) with its batch statistics: (x − mean)/√(var + eps)·γ + β.
/// Differentiable in x, γ and β (shape (C)). Also returns the batch mean and biased variance
/// (C), detached, for the running statistics.
pub fn batch_norm_train(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    batch_norm_train_op(x, gamma, beta, eps, false)
}

/// [`batch_norm_train`] followed by a ReLU, as one op: the same values as `.relu()` on its output;
/// the gradient flows where the output is positive.
pub fn batch_norm_relu_train(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    batch_norm_train_op(x, gamma, beta, eps, true)
}

fn batch_norm_train_op(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64, relu: bool) -> Result<(Tensor, Tensor, Tensor)> {
    let (_, c, _, _) = x.dims4()?;
    if gamma.elem_count() != c || beta.elem_count() != c {
        bail!("batch_norm_train: {c} channels but γ {:?} and β {:?}", gamma.dims(), beta.dims());
    }
    let stats: Stats = Arc::new(Mutex::new(None));
    let op = BatchNormTrain { eps, relu, stats: stats.clone(), saved: Mutex::new((Vec::new(), Vec::new())) };
    let y = x.contiguous()?.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    let (mean, var) = stats.lock().expect("stats lock").take().expect("forward ran");
    let dev = x.device();
    Ok((y, Tensor::from_vec(mean, c, dev)?, Tensor::from_vec(var, c, dev)?))
}

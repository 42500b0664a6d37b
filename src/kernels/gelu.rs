//! GELU (exact, erf form) with a one-pass backward: candle's backward for `gelu_erf` composes
//! about eight map-sized ops (erf, square, exp, products and sums).
//!
//! Φ and e^x are computed here rather than through libm's scalar `erff`/`expf`: profiling the
//! flagship's training (`perf record` on a running `gattanet train`) found libm's erf and exp at
//! about 30 % of the step. The forms below are branch-free arithmetic the compiler vectorises
//! (SSE/AVX natively, simd128 in the page's WebAssembly), and Φ is the same erfc fit the WebGPU
//! shaders use (`shaders/common.wgsl`), so both engines compute the same function.
use std::f32::consts::{FRAC_1_SQRT_2, LOG2_E};

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::{output, par_blocks, slice, with_f32};

const UNIT: usize = 4096;

/// e^x in f32 without a libm call: x = k·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its degree-7
/// Taylor polynomial (truncation below 6e-9 relative), 2^k written straight into the exponent
/// bits. About 2 ulp up to 88; arguments below −87 (where e^x leaves the normal range) give 0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // 1.5·2^23: adding it rounds to an integer that sits in the low bits of the mantissa.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 split in two so that k·LN2_HI is exact (Cody and Waite's reduction).
    const LN2_HI: f32 = 0.693_359_4; // 355/512
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.0, 88.0);
    let shifted = xc * LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = xc - k * LN2_HI - k * LN2_LO;
    let p =
        1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let k_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32; // k ∈ [−126, 127]
    let scale = f32::from_bits(((k_int + 127) as u32) << 23);
    if x < -87.0 {
        0.0
    } else {
        p * scale
    }
}

/// Φ(x), the standard normal CDF, from the erfc Chebyshev fit in Numerical Recipes (erfcc,
/// relative error below 1.2e-7 everywhere). Φ is built from erfc(|x|/√2) on both sides, so the
/// lower tail has no 1 − erf cancellation: its relative error is that of rounding the exponent
/// −x²/2 in f32, about 1e-7·(1 + x²/2) (1e-6 at x = −6, where Φ is 1e-9).
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    let z = x.abs() * FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07 + t * (-1.135_204 + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    let half_erfc = 0.5 * t * exp(poly - z * z);
    if x >= 0.0 {
        1.0 - half_erfc
    } else {
        half_erfc
    }
}

/// x·Φ(x).
#[inline(always)]
fn gelu(x: f32) -> f32 {
    x * normal_cdf(x)
}

/// g · d/dx x·Φ(x) = g·(Φ(x) + x·φ(x)), φ(x) = e^{−x²/2} / √(2π).
#[inline(always)]
fn gelu_grad(x: f32, g: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    g * (normal_cdf(x) + x * exp(-0.5 * x * x) * INV_SQRT_2PI)
}

/// Which map a loop computes: `gelu(x)` or `gelu_grad(x, g)`.
#[derive(Clone, Copy)]
enum Pass {
    Forward,
    Backward,
}

/// The map of `pass` over `x` (and the upstream gradient `g`), in parallel blocks.
fn map(pass: Pass, x: &[f32], g: &[f32]) -> Vec<f32> {
    let mut out = output(x.len());
    let whole = x.len() / UNIT * UNIT;
    let apply = |start: usize, block: &mut [f32]| {
        let end = start + block.len();
        let g = if let Pass::Backward = pass { &g[start..end] } else { &[] };
        run(pass, block, &x[start..end], g);
    };
    let (head, tail) = out.split_at_mut(whole);
    par_blocks(head, UNIT, |b0, block| apply(b0 * UNIT, block));
    apply(whole, tail);
    out
}

/// The loop itself, kept out of line: as a function's arguments the slices are known not to
/// overlap, which is what lets the compiler vectorise it (inlined into the worker-pool closure,
/// whose output block comes from a raw pointer, it stayed scalar). On x86-64 it is compiled
/// again for AVX-512 and AVX2 and picked at run time, as `gemm` does for its kernels: the
/// baseline target has only 4-wide SSE2. (The maps are plain `#[inline(always)]` calls, not
/// closures: a closure too large to inline would run scalar, outside the wide code.)
#[inline(never)]
fn run(pass: Pass, out: &mut [f32], x: &[f32], g: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { run_avx512(pass, out, x, g) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { run_avx2(pass, out, x, g) };
        }
    }
    run_loop(pass, out, x, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512(pass: Pass, out: &mut [f32], x: &[f32], g: &[f32]) {
    run_loop(pass, out, x, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2(pass: Pass, out: &mut [f32], x: &[f32], g: &[f32]) {
    run_loop(pass, out, x, g)
}

#[inline(always)]
fn run_loop(pass: Pass, out: &mut [f32], x: &[f32], g: &[f32]) {
    match pass {
        Pass::Forward => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = gelu(v);
            }
        }
        Pass::Backward => {
            for ((o, &v), &gi) in out.iter_mut().zip(x).zip(g) {
                *o = gelu_grad(v, gi);
            }
        }
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu_erf_fused"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = map(Pass::Forward, slice(s, l)?, &[]);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_f32(x, |xs| with_f32(grad, |g| Ok(map(Pass::Backward, xs, g))))?;
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// Exact GELU, x·Φ(x), with a fused backward; agrees with candle's `gelu_erf` to about 1e-7
/// relative (`tests/kernels.rs`).
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(GeluErf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_f64_across_the_f32_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-90.0), 0.0);
        assert_eq!(exp(-1e30), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn normal_cdf_and_gelu_slope_match_reference_values() {
        // (x, Φ(x), d/dx x·Φ(x)) from Python's math.erfc and math.exp in f64.
        let table: [(f32, f64, f64); 15] = [
            (-12.0, 1.776482112077702e-33, -2.5578956616748956e-31),
            (-9.0, 1.1285884059538422e-19, -9.13893737390664e-18),
            (-6.0, 9.865876450377012e-10, -3.5468709453902015e-08),
            (-4.0, 3.1671241833119965e-05, -0.0005036496612264215),
            (-2.5, 0.006209665325776139, -0.037611085908145214),
            (-1.0, 0.15865525393145707, -0.08331547058768629),
            (-0.3, 0.3820885778110474, 0.26767223317289013),
            (-0.001, 0.49960105778608893, 0.4992021157051586),
            (0.0, 0.5, 0.5),
            (0.001, 0.500398942213911, 0.5007978842948414),
            (0.3, 0.6179114221889526, 0.7323277668271098),
            (1.0, 0.8413447460685429, 1.0833154705876864),
            (2.5, 0.9937903346742238, 1.037611085908145),
            (4.0, 0.9999683287581669, 1.0005036496612265),
            (6.0, 0.9999999990134123, 1.0000000354687093),
        ];
        for (x, cdf, slope) in table {
            let got = normal_cdf(x) as f64;
            let tol = 3e-7 * (1.0 + 0.5 * (x as f64).powi(2));
            assert!(((got - cdf) / cdf).abs() < tol, "Φ({x}) = {got:e}, want {cdf:e}");
            let got_slope = gelu_grad(x, 1.0) as f64;
            assert!((got_slope - slope).abs() <= 5e-7 * slope.abs().max(1.0), "slope at {x}: {got_slope:e}, want {slope:e}");
        }
    }
}

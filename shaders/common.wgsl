// Shared by every kernel with a fused epilogue (conv, depthwise, linear): the activations.
// Prepended to those files when the pipelines are created; the activation codes, epilogue
// flags and gain modes they test come from gpu::params.

// erfc(z) for z >= 0: Numerical Recipes' Chebyshev fit (erfcc), fractional error < 1.2e-7 on
// the whole range, so both erf (= 1 - erfc) near the origin and the tail erfc for large z keep
// ~1e-7 relative accuracy in f32 (no cancellation in GELU for negative inputs).
fn erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(r);
}

fn erf_approx(x: f32) -> f32 {
    let c = erfc_pos(abs(x));
    return select(c - 1.0, 1.0 - c, x >= 0.0);
}

fn gelu(x: f32) -> f32 {
    let c = erfc_pos(abs(x) * 0.70710678118654752);
    // x >= 0: 0.5·x·(2 - erfc);  x < 0: 0.5·x·erfc(|x|/√2)
    return select(0.5 * x * c, 0.5 * x * (2.0 - c), x >= 0.0);
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

fn activate(v: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return max(v, 0.0); }
        case 2u: { return gelu(v); }
        case 3u: { return sigmoid(v); }
        default: { return v; }
    }
}

// GAttANet (VanRullen & Alamia 2021) in its cheap algebraic form, as in src/model/gatta.rs:
//   per layer   q_l = Q_lᵀ · mean_positions(a_l)        (avg_pool + linear kernels)
//   global      q̄  = Σ_l w_l · q_l                      (global_query: w_l = 1/L layer-balanced,
//                                                        n_l / Σn flat)
//   weights     w  = K_l · q̄                            (linear kernel)
//   agreement   g  = scale · Σ_c w[c] · a[c, p]  (conv)   |   scale · a[c] · w[c]  (dense)
//   gain        1 + α_l · g   or   1 + α_l · tanh(g)    (bounded)
// The modulation a ← a ⊙ gain is fused into the epilogue of the kernel producing the site.

// `struct Params` and the shared constants are generated from gpu::params::GattaParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> queries: array<f32>;   // (L, d)
@group(0) @binding(2) var<storage, read> weights: array<f32>;   // (L)
@group(0) @binding(3) var<storage, read_write> qbar: array<f32>; // (d)

@compute @workgroup_size(64)
fn global_query(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= p.d) {
        return;
    }
    var acc = 0.0;
    for (var l = 0u; l < p.layers; l++) {
        acc += weights[l] * queries[l * p.d + j];
    }
    qbar[j] = acc;
}

@group(0) @binding(4) var<storage, read> act: array<f32>;      // (C, N) or (C)
@group(0) @binding(5) var<storage, read> wk: array<f32>;       // K_l q̄: (C)
@group(0) @binding(6) var<storage, read> alpha: array<f32>;    // (L)
@group(0) @binding(7) var<storage, read_write> agree: array<f32>;
@group(0) @binding(8) var<storage, read_write> gain_out: array<f32>;

fn tanh_safe(v: f32) -> f32 {
    // clamp first: some implementations evaluate tanh as sinh/cosh and overflow to NaN
    return tanh(clamp(v, -20.0, 20.0));
}

@compute @workgroup_size(64)
fn agreement(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    var g = 0.0;
    if (p.dense != 0u) {
        if (i >= p.c) {
            return;
        }
        g = act[i] * wk[i];
    } else {
        if (i >= p.n) {
            return;
        }
        for (var c = 0u; c < p.c; c++) {
            g = fma(wk[c], act[c * p.n + i], g);
        }
    }
    g *= p.scale;
    agree[i] = g;
    let t = select(g, tanh_safe(g), p.bounded != 0u);
    gain_out[i] = alpha[p.layer] * t + 1.0;
}

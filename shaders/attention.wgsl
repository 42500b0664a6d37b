// Class attention (CaiT / PatchConvNet aggregation): a class token attends over [itself, patches].
// Tokens are kept channel-major, (C, T) with T = 1 + N, so LayerNorm over each token is the norm
// kernel and the k/v projections are 1×1 convolutions on the GEMM kernel; q (one token) runs on the
// linear kernel. Here: assembling the tokens, the per-head scores q·k, and the weighted sum of v.
// The softmax between them is softmax.wgsl.

// `struct Params` and the shared constants are generated from gpu::params::AttentionParams.

@group(0) @binding(0) var<uniform> p: Params;

// tokens[c, 0] = cls[c]; tokens[c, 1 + i] = x[c, i]
@group(0) @binding(1) var<storage, read> cls: array<f32>;
@group(0) @binding(2) var<storage, read> feat: array<f32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<f32>;

@compute @workgroup_size(64)
fn assemble_tokens(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    let c = gid.y;
    if (t >= p.t || c >= p.c) {
        return;
    }
    let n = p.t - 1u;
    if (t == 0u) {
        tokens[c * p.t] = cls[c];
    } else {
        tokens[c * p.t + t] = feat[c * n + t - 1u];
    }
}

// scores[h, t] = Σ_j q[h·dh + j] · k[h·dh + j, t]   (q already scaled by dh^-1/2)
@group(0) @binding(4) var<storage, read> q: array<f32>;
@group(0) @binding(5) var<storage, read> k: array<f32>;
@group(0) @binding(6) var<storage, read_write> scores: array<f32>;

@compute @workgroup_size(64)
fn attn_scores(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    let h = gid.y;
    if (t >= p.t || h >= p.heads) {
        return;
    }
    var acc = 0.0;
    for (var j = 0u; j < p.dh; j++) {
        let c = h * p.dh + j;
        acc = fma(q[c], k[c * p.t + t], acc);
    }
    scores[h * p.t + t] = acc;
}

// o[c] = Σ_t attn[h(c), t] · v[c, t]; one workgroup per channel.
@group(0) @binding(7) var<storage, read> attn: array<f32>;
@group(0) @binding(8) var<storage, read> v: array<f32>;
@group(0) @binding(9) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(64)
fn attn_weighted_sum(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let h = c / p.dh;
    var acc = 0.0;
    for (var t = tid; t < p.t; t += 64u) {
        acc = fma(attn[h * p.t + t], v[c * p.t + t], acc);
    }
    let total = workgroup_sum(tid, acc);
    if (tid == 0u) {
        o[c] = total;
    }
}

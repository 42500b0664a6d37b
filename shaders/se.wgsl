// Squeeze-excitation gating: y[c, p] = x[c, p] · gate[c]. The squeeze (avg_pool) and the two
// excitation layers (linear + ReLU, linear + sigmoid) run on the pool and linear kernels.

// `struct Params` and the shared constants are generated from gpu::params::SeParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn se_scale(@builtin(global_invocation_id) gid: vec3<u32>) {
    let pos = gid.x;
    let c = gid.y;
    if (pos >= p.n || c >= p.c) {
        return;
    }
    let i = c * p.n + pos;
    y[i] = x[i] * gate[c];
}

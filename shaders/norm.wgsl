// LayerNorm over channels at each position, biased variance, eps inside the sqrt:
//   y = (x - mean) / sqrt(var + eps) · weight + bias
// Element (c, t) lives at c·c_stride + t·t_stride, so one kernel covers an NCHW map
// (c_stride = H·W, t_stride = 1), channel-major tokens (the same), and token-major rows
// normalised over their last dimension (c_stride = 1, t_stride = C). One invocation per position.

// `struct Params` and the shared constants are generated from gpu::params::NormParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wb: array<f32>;   // weight[C], bias[C]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn layer_norm(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    if (t >= p.n) {
        return;
    }
    let base = t * p.t_stride;
    var sum = 0.0;
    for (var c = 0u; c < p.c; c++) {
        sum += x[base + c * p.c_stride];
    }
    let mean = sum / f32(p.c);
    var sq = 0.0;
    for (var c = 0u; c < p.c; c++) {
        let d = x[base + c * p.c_stride] - mean;
        sq += d * d;
    }
    let inv = 1.0 / sqrt(sq / f32(p.c) + p.eps);
    for (var c = 0u; c < p.c; c++) {
        let i = base + c * p.c_stride;
        y[i] = (x[i] - mean) * inv * wb[c] + wb[p.c + c];
    }
}

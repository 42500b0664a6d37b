// Depthwise 3×3 convolution, stride 1, zero padding 1 (PatchConvNet blocks), with fused bias and
// activation. One invocation per output value: a depthwise conv has only 9 MACs per output, so a
// GEMM formulation would load more than it computes.

// `struct Params` and the shared constants are generated from gpu::params::DepthwiseParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;   // (C, 9), row-major over (ky, kx)
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (C)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn depthwise3x3(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = p.h * p.w;
    let pos = gid.x;
    let c = gid.y;
    if (pos >= n || c >= p.c) {
        return;
    }
    let oy = i32(pos / p.w);
    let ox = i32(pos % p.w);
    let base = c * n;
    var acc = bias[c];
    for (var ky = 0; ky < 3; ky++) {
        let iy = oy + ky - 1;
        if (iy < 0 || iy >= i32(p.h)) {
            continue;
        }
        for (var kx = 0; kx < 3; kx++) {
            let ix = ox + kx - 1;
            if (ix < 0 || ix >= i32(p.w)) {
                continue;
            }
            acc = fma(wt[c * 9u + u32(ky * 3 + kx)], x[base + u32(iy) * p.w + u32(ix)], acc);
        }
    }
    y[base + pos] = activate(acc, p.act);
}

// Pooling: max-pool k×k (3: the toy CNN and the ImageNet ResNet stem, 2: conv groups) / stride 2,
// zero-padded where the graph asks for it, and global average pooling over the positions of each
// channel (avg_linear head, squeeze-excitation, GAttANet's query pooling).

// `struct Params` and the shared constants are generated from gpu::params::PoolParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nout = p.hout * p.wout;
    let pos = gid.x;
    let c = gid.y;
    if (pos >= nout || c >= p.c) {
        return;
    }
    let oy = pos / p.wout;
    let ox = pos % p.wout;
    let base = c * p.h * p.w;
    // Positions in the padded input; the padding reads as 0 (it follows a ReLU).
    var m = -3.4e38;
    for (var ky = 0u; ky < p.k; ky++) {
        for (var kx = 0u; kx < p.k; kx++) {
            let iy = i32(oy * 2u + ky) - i32(p.pad);
            let ix = i32(ox * 2u + kx) - i32(p.pad);
            var v = 0.0;
            if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
                v = x[base + u32(iy) * p.w + u32(ix)];
            }
            m = max(m, v);
        }
    }
    y[p.y_off + c * nout + pos] = m;
}

// One workgroup per channel: y[y_off + c] = mean over the H·W positions of channel c.
@compute @workgroup_size(64)
fn avg_pool(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let n = p.h * p.w;
    var acc = 0.0;
    for (var i = tid; i < n; i += 64u) {
        acc += x[c * n + i];
    }
    let total = workgroup_sum(tid, acc);
    if (tid == 0u) {
        y[p.y_off + c] = total / f32(n);
    }
}

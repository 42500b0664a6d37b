// Linear layer y[m, n] = Σ_k x[m, k] · W[n, k] (+ fused epilogue), for the dense layers, the
// squeeze-excitation MLP, GAttANet's projections and the class-attention head. Batch rows are few
// (usually one), so each workgroup reduces one output over K: 64 invocations stride over the
// weight row as vec4 (rows zero-padded to a multiple of 4) and reduce in workgroup memory.
// x may be strided (x_kstride) to read one column of a channel-major token matrix.

// `struct Params` and the shared constants are generated from gpu::params::LinearParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> chan: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read> gain: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

fn xat(m: u32, k: u32) -> f32 {
    if (k >= p.k) {
        return 0.0;
    }
    return x[p.x_off + m * p.x_mstride + k * p.x_kstride];
}

@compute @workgroup_size(64)
fn linear(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = wid.x;
    let m = wid.y;
    let kq = p.kpad / 4u;
    var acc = 0.0;
    // full groups of 4 first (no per-element bounds test), then the zero-padded tail
    let full = p.k / 4u;
    let xb = p.x_off + m * p.x_mstride;
    let ks = p.x_kstride;
    for (var q = tid; q < full; q += 64u) {
        let i = xb + q * 4u * ks;
        let xv = vec4<f32>(x[i], x[i + ks], x[i + 2u * ks], x[i + 3u * ks]);
        acc += dot(wt[n * kq + q], xv);
    }
    for (var q = full + tid; q < kq; q += 64u) {
        let k = q * 4u;
        let xv = vec4<f32>(xat(m, k), xat(m, k + 1u), xat(m, k + 2u), xat(m, k + 3u));
        acc += dot(wt[n * kq + q], xv);
    }
    let total = workgroup_sum(tid, acc);
    if (tid == 0u) {
        var v = total;
        if ((p.flags & HAS_BIAS) != 0u) {
            v += chan[n];
        }
        if ((p.flags & HAS_SCALE) != 0u) {
            v *= chan[p.n + n];
        }
        if ((p.flags & HAS_RES) != 0u) {
            v += res[p.res_off + m * p.n + n];
        }
        v = activate(v, p.act);
        if (p.gain_mode != GAIN_NONE) {
            v *= gain[n];
        }
        y[p.y_off + m * p.y_mstride + n] = v;
    }
}

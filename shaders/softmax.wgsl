// Row-wise softmax, max-subtracted: y = exp(x - max) / Σ exp(x - max).
// One workgroup per row (class-attention heads; the logits → probabilities).

// `struct Params` and the shared constants are generated from gpu::params::SoftmaxParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn softmax_rows(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let xb = p.x_off + wid.x * p.len;
    let yb = p.y_off + wid.x * p.len;
    var m = -3.402823e38; // (-FLT_MAX rounded down: Tint rejects literals that round past it)
    for (var i = tid; i < p.len; i += 64u) {
        m = max(m, x[xb + i]);
    }
    let mx = workgroup_max(tid, m);
    var sum = 0.0;
    for (var i = tid; i < p.len; i += 64u) {
        sum += exp(x[xb + i] - mx);
    }
    let total = workgroup_sum(tid, sum);
    for (var i = tid; i < p.len; i += 64u) {
        y[yb + i] = exp(x[xb + i] - mx) / total;
    }
}

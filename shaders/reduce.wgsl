// Workgroup-wide reductions for the 64-invocation kernels (linear, pooling, class attention,
// softmax): every invocation passes its partial value and gets the total back. Call them from
// uniform control flow (they contain barriers). Prepended to the files that use them.

var<workgroup> red: array<f32, 64>;

fn workgroup_sum(tid: u32, v: f32) -> f32 {
    red[tid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (tid < s) {
            red[tid] += red[tid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier(); // everyone has read red[0] before the next call overwrites it
    return total;
}

fn workgroup_max(tid: u32, v: f32) -> f32 {
    red[tid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (tid < s) {
            red[tid] = max(red[tid], red[tid + s]);
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

// Convolution (any square kernel, stride, zero padding; groups = 1) as a tiled implicit GEMM:
//   out[co, p] = Σ_k W[co, k] · im2col(x)[k, p],   k = (ci, ky, kx),  p = (oy, ox)
// A = weights (Cout × Kpad, rows zero-padded to a multiple of 4, loaded as vec4),
// B = im2col gathered on the fly into workgroup memory (never materialised).
// 8×8 threads, each a 4×4 register tile → 32×32 output tile per workgroup, K step 16.
// Epilogue (fused): + bias, × LayerScale, + residual, activation, × GAttANet gain.
// `conv1x1_vec4` is the same GEMM for 1×1 / stride 1 / no padding with P % 4 == 0, where the
// B tile rows are contiguous and load as vec4.

// `struct Params` and the shared constants are generated from gpu::params::ConvParams.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> chan: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read> gain: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read> x4: array<vec4<f32>>;

const TM: u32 = 32u;
const TN: u32 = 32u;
const TK: u32 = 16u;

// As[k * 8 + i] holds rows 4i..4i+3 of the A tile at depth k; Bs[k * 8 + j] columns 4j..4j+3.
var<workgroup> As: array<vec4<f32>, 128>;
var<workgroup> Bs: array<vec4<f32>, 128>;

fn load_a(tid: u32, m0: u32, k0: u32) {
    // 32 rows × 4 vec4 = 128 vec4 per tile, 2 per thread.
    let kq = p.kpad / 4u;
    for (var r = 0u; r < 2u; r++) {
        let v = tid + 64u * r;
        let row = v / 4u;
        let kk = (v % 4u) * 4u;
        let co = m0 + row;
        let kg = k0 + kk;
        var a = vec4<f32>(0.0);
        if (co < p.cout && kg < p.kpad) {
            a = wt[co * kq + kg / 4u];
        }
        let col = row / 4u;
        let comp = row % 4u;
        As[(kk + 0u) * 8u + col][comp] = a.x;
        As[(kk + 1u) * 8u + col][comp] = a.y;
        As[(kk + 2u) * 8u + col][comp] = a.z;
        As[(kk + 3u) * 8u + col][comp] = a.w;
    }
}

// Per K tile, the im2col row offsets of its 16 k values, computed once by 16 invocations so
// the gather below needs no integer division: base = ci·H·W + ky·W + kx, (ky, kx).
var<workgroup> kbase: array<i32, 16>;
var<workgroup> kdy: array<i32, 16>;
var<workgroup> kdx: array<i32, 16>;

fn k_table(tid: u32, k0: u32) {
    if (tid < TK) {
        let k = k0 + tid;
        let kk2 = p.ksize * p.ksize;
        let ci = k / kk2;
        let rem = k % kk2;
        let ky = rem / p.ksize;
        let kx = rem % p.ksize;
        kbase[tid] = select(-1, i32((ci * p.h + ky) * p.w + kx), k < p.kdim);
        kdy[tid] = i32(ky);
        kdx[tid] = i32(kx);
    }
}

// The positions an invocation gathers: 4 consecutive output positions (one vec4 of the B tile),
// decomposed once before the K loop: top-left input corner (y, x) and its flat offset.
struct Cols {
    oy: vec4<i32>,
    ox: vec4<i32>,
    base: vec4<i32>,
    ok: vec4<bool>,
}

fn gather_cols(n0: u32, j: u32) -> Cols {
    var c: Cols;
    for (var e = 0u; e < 4u; e++) {
        let pos = n0 + j * 4u + e;
        let oy = i32((pos / p.wout) * p.stride) - i32(p.pad);
        let ox = i32((pos % p.wout) * p.stride) - i32(p.pad);
        c.oy[e] = oy;
        c.ox[e] = ox;
        c.base[e] = oy * i32(p.w) + ox;
        c.ok[e] = pos < p.npos;
    }
    return c;
}

fn load_b_gather(tid: u32, cols: Cols) {
    // 16 × 32 = 512 values as 128 vec4, 2 per invocation: column group j = tid % 8 (fixed),
    // rows kk = tid / 8 and tid / 8 + 8.
    let j = tid % 8u;
    for (var r = 0u; r < 2u; r++) {
        let kk = tid / 8u + 8u * r;
        let kb = kbase[kk];
        var v = vec4<f32>(0.0);
        if (kb >= 0) {
            let iy = cols.oy + vec4<i32>(kdy[kk]);
            let ix = cols.ox + vec4<i32>(kdx[kk]);
            let inside = cols.ok & (iy >= vec4<i32>(0)) & (ix >= vec4<i32>(0)) & (iy < vec4<i32>(i32(p.h))) & (ix < vec4<i32>(i32(p.w)));
            let idx = cols.base + vec4<i32>(kb);
            for (var e = 0u; e < 4u; e++) {
                if (inside[e]) {
                    v[e] = x[u32(idx[e])];
                }
            }
        }
        Bs[kk * 8u + j] = v;
    }
}

fn load_b_vec4(tid: u32, n0: u32, k0: u32) {
    // 16 rows × 8 vec4 = 128 vec4, 2 per thread; rows of x are contiguous (1×1, stride 1).
    for (var r = 0u; r < 2u; r++) {
        let v = tid + 64u * r;
        let kk = v / 8u;
        let j = v % 8u;
        let k = k0 + kk;
        let pos = n0 + j * 4u;
        var b = vec4<f32>(0.0);
        if (k < p.kdim && pos < p.npos) {
            b = x4[(k * p.npos + pos) / 4u];
        }
        Bs[kk * 8u + j] = b;
    }
}

fn epilogue(co: u32, pos: u32, acc: f32) {
    if (co >= p.cout || pos >= p.npos) {
        return;
    }
    var v = acc;
    if ((p.flags & HAS_BIAS) != 0u) {
        v += chan[co];
    }
    if ((p.flags & HAS_SCALE) != 0u) {
        v *= chan[p.cout + co];
    }
    let idx = co * p.npos + pos;
    if ((p.flags & HAS_RES) != 0u) {
        v += res[idx];
    }
    v = activate(v, p.act);
    if (p.gain_mode == GAIN_POSITION) {
        v *= gain[pos];
    } else if (p.gain_mode == GAIN_UNIT) {
        v *= gain[co];
    }
    y[idx] = v;
}

fn store(tx: u32, ty: u32, m0: u32, n0: u32, acc: array<vec4<f32>, 4>) {
    for (var i = 0u; i < 4u; i++) {
        let co = m0 + ty * 4u + i;
        let row = acc[i];
        let pos = n0 + tx * 4u;
        epilogue(co, pos, row.x);
        epilogue(co, pos + 1u, row.y);
        epilogue(co, pos + 2u, row.z);
        epilogue(co, pos + 3u, row.w);
    }
}

// acc (this invocation's 4×4 outputs) += the A tile's rows ty × the B tile's columns tx, over TK.
fn multiply_tiles(tx: u32, ty: u32, acc: ptr<function, array<vec4<f32>, 4>>) {
    for (var k = 0u; k < TK; k++) {
        let a = As[k * 8u + ty];
        let b = Bs[k * 8u + tx];
        (*acc)[0] = fma(vec4<f32>(a.x), b, (*acc)[0]);
        (*acc)[1] = fma(vec4<f32>(a.y), b, (*acc)[1]);
        (*acc)[2] = fma(vec4<f32>(a.z), b, (*acc)[2]);
        (*acc)[3] = fma(vec4<f32>(a.w), b, (*acc)[3]);
    }
}

@compute @workgroup_size(8, 8)
fn conv_gemm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 8u + tx;
    let n0 = wid.x * TN;
    let m0 = wid.y * TM;
    let cols = gather_cols(n0, tid % 8u);
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.kpad; k0 += TK) {
        k_table(tid, k0);
        workgroupBarrier();
        load_a(tid, m0, k0);
        load_b_gather(tid, cols);
        workgroupBarrier();
        multiply_tiles(tx, ty, &acc);
        workgroupBarrier();
    }
    store(tx, ty, m0, n0, acc);
}

@compute @workgroup_size(8, 8)
fn conv1x1_vec4(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 8u + tx;
    let n0 = wid.x * TN;
    let m0 = wid.y * TM;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.kpad; k0 += TK) {
        load_a(tid, m0, k0);
        load_b_vec4(tid, n0, k0);
        workgroupBarrier();
        multiply_tiles(tx, ty, &acc);
        workgroupBarrier();
    }
    store(tx, ty, m0, n0, acc);
}

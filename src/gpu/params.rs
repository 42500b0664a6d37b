//! Kernel launch parameters, defined once. Each shader module reads one uniform block,
//! `struct Params`; here it is a `#[repr(C)]` Rust struct, and the WGSL declaration is generated
//! from it and prepended to the shader, together with the constants both sides share
//! (activation codes, epilogue flags, gain modes). A field added, renamed or reordered on one
//! side is so on both.
use bytemuck::{Pod, Zeroable};

/// Bytes of one launch's uniform block (the engine binds this much at an aligned offset).
pub(crate) const BLOCK_BYTES: usize = 64;

/// Activations of the fused epilogues.
pub(crate) const ACT_NONE: u32 = 0;
pub(crate) const ACT_RELU: u32 = 1;
/// Exact GELU: 0.5·x·(1 + erf(x/√2)).
pub(crate) const ACT_GELU: u32 = 2;
pub(crate) const ACT_SIGMOID: u32 = 3;
/// Epilogue flags: v += bias[c] (chan[0..C]); v *= scale[c] (chan[C..2C], LayerScale γ);
/// v += residual[i] (before the activation).
pub(crate) const HAS_BIAS: u32 = 1;
pub(crate) const HAS_SCALE: u32 = 2;
pub(crate) const HAS_RES: u32 = 4;
/// GAttANet's modulation after the activation: none, one gain per spatial position shared by
/// all channels (conv sites), one gain per unit (dense sites).
pub(crate) const GAIN_NONE: u32 = 0;
pub(crate) const GAIN_POSITION: u32 = 1;
pub(crate) const GAIN_UNIT: u32 = 2;

const CONSTANTS: [(&str, u32); 10] = [
    ("ACT_NONE", ACT_NONE),
    ("ACT_RELU", ACT_RELU),
    ("ACT_GELU", ACT_GELU),
    ("ACT_SIGMOID", ACT_SIGMOID),
    ("HAS_BIAS", HAS_BIAS),
    ("HAS_SCALE", HAS_SCALE),
    ("HAS_RES", HAS_RES),
    ("GAIN_NONE", GAIN_NONE),
    ("GAIN_POSITION", GAIN_POSITION),
    ("GAIN_UNIT", GAIN_UNIT),
];

/// The shared constants as WGSL declarations.
pub(crate) fn wgsl_constants() -> String {
    CONSTANTS.iter().map(|(name, v)| format!("const {name}: u32 = {v}u;\n")).collect()
}

/// A launch's parameters: plain 32-bit fields, `u32` or `f32`.
pub(crate) trait KernelParams: Pod {
    /// (name, WGSL type) of every field, in order.
    const FIELDS: &'static [(&'static str, &'static str)];

    /// The launch's uniform block.
    fn block(&self) -> [u32; 16] {
        let words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(self));
        let mut block = [0; 16];
        block[..words.len()].copy_from_slice(words);
        block
    }

    /// `struct Params { … }`, padded to 16 bytes as uniform blocks are.
    fn wgsl() -> String {
        let mut s = String::from("struct Params {\n");
        for (name, ty) in Self::FIELDS {
            s += &format!("    {name}: {ty},\n");
        }
        for i in Self::FIELDS.len()..Self::FIELDS.len().div_ceil(4) * 4 {
            s += &format!("    _pad{i}: u32,\n");
        }
        s + "}\n"
    }
}

/// Declares the parameter structs and their field lists.
macro_rules! params {
    ($($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ident),* $(,)? })*) => {$(
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
        pub(crate) struct $name {
            $(pub $field: $ty),*
        }
        impl KernelParams for $name {
            const FIELDS: &'static [(&'static str, &'static str)] = &[$((stringify!($field), stringify!($ty))),*];
        }
        const _: () = assert!(std::mem::size_of::<$name>() <= BLOCK_BYTES);
    )*};
}

params! {
    /// conv.wgsl: implicit-GEMM convolution with its epilogue.
    ConvParams {
        cin: u32, h: u32, w: u32, cout: u32,
        hout: u32, wout: u32, ksize: u32, stride: u32,
        pad: u32, kdim: u32, kpad: u32, npos: u32,
        flags: u32, act: u32, gain_mode: u32,
    }
    /// depthwise.wgsl: 3x3 depthwise conv + bias + activation.
    DepthwiseParams { c: u32, h: u32, w: u32, act: u32 }
    /// linear.wgsl: y[m, n] = x[m, :]·W[n, :] with the epilogue; x may be strided.
    LinearParams {
        m: u32, k: u32, kpad: u32, n: u32,
        x_off: u32, x_mstride: u32, x_kstride: u32, y_off: u32,
        y_mstride: u32, flags: u32, act: u32, gain_mode: u32,
        res_off: u32,
    }
    /// norm.wgsl: LayerNorm over c values at each of n positions, element (c, t) at c·c_stride + t·t_stride.
    NormParams { c: u32, n: u32, c_stride: u32, t_stride: u32, eps: f32 }
    /// pool.wgsl: max-pool k×k / 2 with `pad` zeros around (h × w → hout × wout) and the mean of
    /// h·w positions into y[y_off + c].
    PoolParams { c: u32, h: u32, w: u32, hout: u32, wout: u32, y_off: u32, k: u32, pad: u32 }
    /// se.wgsl: y[c, p] = x[c, p] · gate[c] over n positions.
    SeParams { c: u32, n: u32 }
    /// gatta.wgsl: global query over `layers` sites, and the agreement and gains of site `layer`.
    GattaParams { d: u32, layers: u32, c: u32, n: u32, dense: u32, layer: u32, scale: f32, bounded: u32 }
    /// attention.wgsl: class attention over t tokens of c channels in `heads` heads of dh.
    AttentionParams { c: u32, t: u32, heads: u32, dh: u32 }
    /// softmax.wgsl: softmax of `len` values per row.
    SoftmaxParams { len: u32, x_off: u32, y_off: u32 }
}

/// The word of the block holding a field, from its byte offset (`std::mem::offset_of!`).
pub(crate) const fn word(offset: usize) -> usize {
    offset / 4
}

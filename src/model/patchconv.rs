//! PatchConvNet trunk (Touvron et al. 2021): a strided conv stem, then blocks at constant
//! resolution and width:  x + γ ⊙ conv1x1(SE(GELU(dw3x3(GELU(conv1x1(LN(x))))))).
//! Attended: every block's output.
use super::graph::{conv, Act, Builder, ConvSpec, Value};
use super::layers::uniform_fan_in;

pub fn lower(b: &mut Builder, mut x: Value, dim: usize, depth: usize, stem_stride: usize, init_scale: f64, se_ratio: f64) -> Value {
    // log2(stride) stride-2 convs whose widths double up to `dim` (a single stride-1 conv for
    // stride 1), GELU between them.
    let n = (stem_stride.trailing_zeros() as usize).max(1);
    let stride = if stem_stride == 1 { 1 } else { 2 };
    for i in 0..n {
        let (cin, c) = (b.shape(x)[0], dim >> (n - 1 - i));
        let act = if i + 1 < n { Act::Gelu } else { Act::None };
        x = b.conv(x, ConvSpec { init: uniform_fan_in(cin * 9), ..conv(format!("backbone.stem.{i}"), cin, c, 3, stride, act) }, None);
    }
    let pointwise = |prefix: String, act| ConvSpec { bias: true, init: uniform_fan_in(dim), ..conv(prefix, dim, dim, 1, 1, act) };
    let reduced = ((dim as f64) * se_ratio).round() as usize;
    for i in 0..depth {
        let p = format!("backbone.blocks.{i}");
        let u = b.layer_norm(format!("{p}.norm"), x);
        let u = b.conv(u, pointwise(format!("{p}.conv1"), Act::Gelu), None);
        let u = b.depthwise_gelu(format!("{p}.dwconv"), u);
        let u = b.squeeze_excite(format!("{p}.se"), u, reduced);
        let conv2 =
            ConvSpec { scale: Some((format!("{p}.gamma"), init_scale)), residual: Some(x), ..pointwise(format!("{p}.conv2"), Act::None) };
        x = b.conv(u, conv2, Some(format!("block{}", i + 1)));
    }
    x
}

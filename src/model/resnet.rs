//! CIFAR ResNet (He et al. 2016, §4.2): a 3x3 stem, three stages of basic blocks with widths
//! w, 2w, 4w (stride 2 entering stages 2 and 3), 1x1 projection shortcuts where shapes change:
//!   block(x) = ReLU(BN(conv(ReLU(BN(conv x)))) + shortcut(x)).
//! Attended: every block's output.
use super::graph::{conv_bn, Act, Builder, ConvSpec, Value};

pub fn lower(b: &mut Builder, x: Value, depth: usize, width: usize) -> Value {
    let cin = b.shape(x)[0];
    let mut x = b.conv(x, conv_bn("backbone.stem", cin, width, 3, 1, Act::Relu), None);
    let n = (depth - 2) / 6;
    for s in 0..3 {
        let c = width << s;
        for i in 0..n {
            let stride = if s > 0 && i == 0 { 2 } else { 1 };
            let name = format!("stage{}.block{}", s + 1, i + 1);
            let p = format!("backbone.{name}");
            let c_prev = b.shape(x)[0];
            let a = b.conv(x, conv_bn(&format!("{p}.conv1"), c_prev, c, 3, stride, Act::Relu), None);
            let skip = match stride != 1 || c_prev != c {
                true => b.conv(x, conv_bn(&format!("{p}.shortcut"), c_prev, c, 1, stride, Act::None), None),
                false => x,
            };
            let conv2 = ConvSpec { residual: Some(skip), ..conv_bn(&format!("{p}.conv2"), c, c, 3, 1, Act::Relu) };
            x = b.conv(a, conv2, Some(name));
        }
    }
    x
}

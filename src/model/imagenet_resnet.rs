//! ImageNet ResNet (He et al. 2016, §3.4; torchvision's layout, stride on the 3×3 conv): a 7×7
//! stride-2 stem and a 3×3 stride-2 max-pool, then four stages of widths w, 2w, 4w, 8w
//! (stride 2 entering stages 2–4). ResNet-18/34 use basic blocks,
//!   block(x) = ReLU(BN(conv3(ReLU(BN(conv3 x)))) + shortcut(x)),
//! ResNet-50/101/152 bottleneck blocks (1×1 reduce, 3×3, 1×1 expand to 4× the stage width).
//! Shortcuts are 1×1 conv + BN where the shape changes. Attended: every block's output, the
//! sites the GAttANet paper uses on its ImageNet ResNet-50. Tensor names follow the CIFAR
//! ResNet's (`backbone.stage{s}.block{i}.conv{j}`); `python/` maps torchvision's onto them.
use super::graph::{conv_bn, Act, Builder, ConvSpec, Value};

/// Blocks per stage and whether they are bottlenecks, for each supported depth.
pub fn layout(depth: usize) -> Option<([usize; 4], bool)> {
    Some(match depth {
        18 => ([2, 2, 2, 2], false),
        34 => ([3, 4, 6, 3], false),
        50 => ([3, 4, 6, 3], true),
        101 => ([3, 4, 23, 3], true),
        152 => ([3, 8, 36, 3], true),
        _ => return None,
    })
}

/// Output channels of a bottleneck block relative to its stage width.
pub const EXPANSION: usize = 4;

pub fn lower(b: &mut Builder, x: Value, depth: usize, width: usize) -> Value {
    let (blocks, bottleneck) = layout(depth).expect("validated depth");
    let cin = b.shape(x)[0];
    let stem = b.conv(x, conv_bn("backbone.stem", cin, width, 7, 2, Act::Relu), None);
    // Zero padding equals PyTorch's −∞ padding here: the stem ends in a ReLU.
    let mut x = b.max_pool_padded("backbone.stem.pool".into(), stem, 3, 1);
    for (s, &n) in blocks.iter().enumerate() {
        let c = width << s;
        let cout = if bottleneck { EXPANSION * c } else { c };
        for i in 0..n {
            let stride = if s > 0 && i == 0 { 2 } else { 1 };
            let name = format!("stage{}.block{}", s + 1, i + 1);
            let p = format!("backbone.{name}");
            let c_prev = b.shape(x)[0];
            let (inner, last) = match bottleneck {
                true => {
                    let a = b.conv(x, conv_bn(&format!("{p}.conv1"), c_prev, c, 1, 1, Act::Relu), None);
                    let a = b.conv(a, conv_bn(&format!("{p}.conv2"), c, c, 3, stride, Act::Relu), None);
                    (a, conv_bn(&format!("{p}.conv3"), c, cout, 1, 1, Act::Relu))
                }
                false => {
                    let a = b.conv(x, conv_bn(&format!("{p}.conv1"), c_prev, c, 3, stride, Act::Relu), None);
                    (a, conv_bn(&format!("{p}.conv2"), c, c, 3, 1, Act::Relu))
                }
            };
            let skip = match stride != 1 || c_prev != cout {
                true => b.conv(x, conv_bn(&format!("{p}.shortcut"), c_prev, cout, 1, stride, Act::None), None),
                false => x,
            };
            x = b.conv(inner, ConvSpec { residual: Some(skip), ..last }, Some(name));
        }
    }
    x
}

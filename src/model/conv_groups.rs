//! Conv groups with patch whitening, the trunk of the fast CIFAR-10 recipes (Page's ResNet-9,
//! hlb-CIFAR10, airbench): a frozen 3x3 conv whose filters are the ± eigenvectors of the
//! training set's patch covariance scaled to unit variance (it decorrelates the pixels the
//! first learned conv sees), then groups of two conv → BatchNorm → GELU layers with a 2x2
//! max-pool between them, then residual pairs at the last width:
//!   block(x) = GELU(x + BN(conv(GELU(BN(conv(x)))))).
//! Attended: both convs of every group (the first at full resolution) and every block.
use super::graph::{conv, conv_bn, Act, Builder, ConvSpec, Value};

pub fn lower(b: &mut Builder, x: Value, whitening: usize, widths: &[usize], blocks: usize) -> Value {
    let cin = b.shape(x)[0];
    // Set from the data by the trainer (`train::whitening`) and never trained.
    let whiten = ConvSpec { frozen: true, ..conv("backbone.whiten".into(), cin, 2 * whitening, 3, 1, Act::Gelu) };
    let mut x = b.conv(x, whiten, None);
    for (g, &c) in widths.iter().enumerate() {
        let (name, prev) = (format!("group{}", g + 1), b.shape(x)[0]);
        let p = format!("backbone.{name}");
        x = b.conv(x, conv_bn(&format!("{p}.conv1"), prev, c, 3, 1, Act::Gelu), Some(format!("{name}.conv1")));
        x = b.max_pool(format!("{p}.pool"), x, 2);
        x = b.conv(x, conv_bn(&format!("{p}.conv2"), c, c, 3, 1, Act::Gelu), Some(format!("{name}.conv2")));
    }
    let c = b.shape(x)[0];
    for i in 0..blocks {
        let name = format!("block{}", i + 1);
        let p = format!("backbone.{name}");
        let u = b.conv(x, conv_bn(&format!("{p}.conv1"), c, c, 3, 1, Act::Gelu), None);
        x = b.conv(u, ConvSpec { residual: Some(x), ..conv_bn(&format!("{p}.conv2"), c, c, 3, 1, Act::Gelu) }, Some(name));
    }
    x
}

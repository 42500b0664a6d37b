//! The paper's toy CNN trunk: conv3x3 → BN → ReLU three times, a 3×3 max-pool with stride 2
//! after the first two. (Its two dense layers are the `mlp` head.) Attended: every conv.
use super::graph::{conv_bn, Act, Builder, Value};

pub fn lower(b: &mut Builder, mut x: Value, channels: [usize; 3]) -> Value {
    for (i, &c) in channels.iter().enumerate() {
        let p = format!("backbone.conv{}", i + 1);
        let cin = b.shape(x)[0];
        x = b.conv(x, conv_bn(&p, cin, c, 3, 1, Act::Relu), Some(format!("conv{}", i + 1)));
        if i < 2 {
            x = b.max_pool(format!("{p}.pool"), x, 3);
        }
    }
    x
}

//! Classifier heads: average pooling + linear, the toy CNN's two dense layers, or PatchConvNet's
//! attention-based aggregation (a learned class token attending over all patches). The logits
//! are an attention site, and so is the MLP's hidden layer.
use super::config::HeadConfig;
use super::graph::{Act, Builder, Op, Value};

pub fn lower(b: &mut Builder, x: Value, cfg: &HeadConfig, classes: usize) -> Value {
    let logits = || Some("logits".to_string());
    match cfg {
        HeadConfig::AvgLinear => {
            let m = b.avg_pool("head.pool".into(), x);
            b.linear("head.fc".into(), m, classes, Act::None, logits())
        }
        HeadConfig::Mlp { hidden } => {
            let f = b.linear("head.fc1".into(), x, *hidden, Act::Relu, Some("fc1".into()));
            b.linear("head.fc2".into(), f, classes, Act::None, logits())
        }
        &HeadConfig::ClassAttention { heads, mlp_ratio, init_scale } => {
            let c = b.shape(x)[0];
            b.tensor("head.cls_token".into(), vec![1, 1, c]);
            for norm in ["head.norm1", "head.norm2", "head.norm"] {
                b.norm_weights(norm, c);
            }
            for p in ["head.q", "head.k", "head.v", "head.proj"] {
                b.linear_weights(p, c, c);
            }
            b.linear_weights("head.mlp.fc1", c, c * mlp_ratio);
            b.linear_weights("head.mlp.fc2", c * mlp_ratio, c);
            b.linear_weights("head.fc", c, classes);
            for g in ["head.gamma1", "head.gamma2"] {
                b.tensor(g.into(), vec![c]);
            }
            let op = Op::ClassAttention { prefix: "head".into(), heads, mlp_ratio, init_scale, classes };
            b.node("head".into(), op, x, [classes, 1, 1], logits())
        }
    }
}

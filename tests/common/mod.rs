//! Small configs of every backbone and head, for fast tests.
#![allow(dead_code)]
use gattanet::model::{AttentionConfig, BackboneConfig, HeadConfig, ModelConfig};
use gattanet::preprocess::InputSpec;

pub fn classes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class{i}")).collect()
}

pub fn input(size: usize) -> InputSpec {
    InputSpec { size: [size, size], channels: 3, mean: vec![0.5, 0.4, 0.3], std: vec![0.25, 0.2, 0.3] }
}

/// One small model per backbone/head combination worth testing, all with GAttANet (T = 2).
pub fn small_configs() -> Vec<ModelConfig> {
    let att = || Some(AttentionConfig { dim: 4, passes: 2, ..Default::default() });
    vec![
        ModelConfig {
            name: "toy".into(),
            classes: classes(4),
            input: input(16),
            backbone: BackboneConfig::Toy { channels: [4, 6, 8] },
            head: HeadConfig::Mlp { hidden: 10 },
            attention: att(),
        },
        ModelConfig {
            name: "resnet".into(),
            classes: classes(3),
            input: input(12),
            backbone: BackboneConfig::Resnet { depth: 8, width: 4 },
            head: HeadConfig::AvgLinear,
            attention: att(),
        },
        ModelConfig {
            name: "patchconv".into(),
            classes: classes(5),
            input: input(16),
            backbone: BackboneConfig::Patchconv { dim: 8, depth: 2, stem_stride: 4, init_scale: 0.5, se_ratio: 0.25 },
            head: HeadConfig::ClassAttention { heads: 2, mlp_ratio: 2, init_scale: 0.5 },
            attention: att(),
        },
        ModelConfig {
            name: "resnet-ca".into(),
            classes: classes(3),
            input: input(8),
            backbone: BackboneConfig::Resnet { depth: 8, width: 4 },
            head: HeadConfig::ClassAttention { heads: 1, mlp_ratio: 3, init_scale: 0.5 },
            attention: Some(AttentionConfig { dim: 3, passes: 3, layers: Some(vec!["stage3.block1".into(), "logits".into()]), ..Default::default() }),
        },
    ]
}

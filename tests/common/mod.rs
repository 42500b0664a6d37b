//! Small configs of every backbone and head, and deterministic random weights and inputs for
//! them, for fast tests.
#![allow(dead_code)]
use std::collections::HashMap;

use candle_core::{Device, Tensor};
use gattanet::model::{io, AttentionConfig, BackboneConfig, HeadConfig, ModelConfig};
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
            attention: Some(AttentionConfig {
                dim: 3,
                passes: 3,
                layers: Some(vec!["stage3.block1".into(), "logits".into()]),
                ..Default::default()
            }),
        },
        ModelConfig {
            // odd input: the stem, the padded max-pool and the strided stages round down
            name: "imagenet-resnet18".into(),
            classes: classes(3),
            input: input(21),
            backbone: BackboneConfig::ImagenetResnet { depth: 18, width: 4 },
            head: HeadConfig::AvgLinear,
            // bounded gains: random weights through 8 residual blocks make agreements large
            // enough for unbounded gains to overflow within two passes
            attention: Some(AttentionConfig { dim: 4, passes: 2, bounded: true, ..Default::default() }),
        },
        ModelConfig {
            name: "imagenet-resnet50".into(),
            classes: classes(4),
            input: input(32),
            backbone: BackboneConfig::ImagenetResnet { depth: 50, width: 2 },
            head: HeadConfig::ClassAttention { heads: 2, mlp_ratio: 2, init_scale: 0.5 },
            attention: Some(AttentionConfig { dim: 4, passes: 2, bounded: true, ..Default::default() }),
        },
        ModelConfig {
            name: "conv-groups".into(),
            classes: classes(4),
            input: input(10),
            backbone: BackboneConfig::ConvGroups { whitening: 3, widths: vec![6, 8], blocks: 1 },
            head: HeadConfig::ClassAttention { heads: 2, mlp_ratio: 2, init_scale: 0.5 },
            attention: att(),
        },
    ]
}

/// A small deterministic generator (xorshift64*), so a failing case reproduces.
pub struct Rng(pub u64);

impl Rng {
    pub fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }
    pub fn normal(&mut self, s: f32) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        s * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// Deterministic random weights with non-trivial BatchNorm statistics (different per pass),
/// biases, LayerScale and α, so folding, per-pass statistics and the modulation all matter.
pub fn weights(cfg: &ModelConfig, seed: u64) -> Vec<u8> {
    let (_, varmap) = io::init(cfg, &Device::Cpu).unwrap();
    let mut tensors: HashMap<String, Tensor> = io::varmap_tensors(&varmap);
    let mut names: Vec<String> = tensors.keys().cloned().collect();
    names.sort();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for name in names {
        let t = tensors.get_mut(&name).unwrap();
        let dims = t.dims().to_vec();
        let n = t.elem_count();
        let fan_in: usize = if name.starts_with("gatta.") { dims[0] } else { dims.iter().skip(1).product::<usize>().max(1) };
        let mut gen: Box<dyn FnMut(&mut Rng) -> f32> = if name.ends_with(".var") {
            Box::new(|r| r.range(0.5, 1.5))
        } else if name.ends_with(".mean") {
            Box::new(|r| r.normal(0.2))
        } else if name.ends_with(".alpha") {
            Box::new(|r| r.normal(0.3))
        } else if name.ends_with(".bias") {
            Box::new(|r| r.normal(0.1))
        } else if name.contains("gamma") {
            Box::new(|r| r.range(0.3, 0.7))
        } else if dims.len() == 1 && name.ends_with(".weight") {
            Box::new(|r| r.range(0.5, 1.5)) // BatchNorm / LayerNorm scale
        } else if name.ends_with("cls_token") {
            Box::new(|r| r.normal(0.5))
        } else if name.starts_with("gatta.") {
            let b = 1.0 / (fan_in as f32).sqrt();
            Box::new(move |r| r.range(-b, b))
        } else {
            let b = (6.0 / fan_in as f32).sqrt();
            Box::new(move |r| r.range(-b, b))
        };
        let data: Vec<f32> = (0..n).map(|_| gen(&mut rng)).collect();
        *t = Tensor::from_vec(data, dims, &Device::Cpu).unwrap();
    }
    io::to_safetensors(&tensors, io::Storage::F32).unwrap()
}

pub fn random_input(cfg: &ModelConfig, seed: u64) -> Vec<f32> {
    let [h, w] = cfg.input.size;
    let mut rng = Rng(seed ^ 0x5151_5151 | 1);
    (0..cfg.input.channels * h * w).map(|_| rng.normal(1.0)).collect()
}

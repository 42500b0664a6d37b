//! The GAttANet equations on hand-computed cases, and the cheap algebraic form against the explicit one.
use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use gattanet::model::gatta::{modulate, GAttANet};
use gattanet::model::{AttentionConfig, QueryPooling, SiteInfo};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
}

fn vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

/// conv layer "conv": 2 channels, 1×2 positions, d = 1; dense layer "fc": 3 units.
fn hand_model(pooling: QueryPooling, with_dense: bool) -> GAttANet {
    let mut ts = HashMap::new();
    ts.insert("conv.key".to_string(), t(&[1.0, 2.0], &[2, 1]));
    ts.insert("conv.query".to_string(), t(&[0.5, -1.0], &[2, 1]));
    ts.insert("conv.alpha".to_string(), t(&[0.2], &[1]));
    let mut sites = vec![SiteInfo { name: "conv".into(), channels: 2, spatial: Some([1, 2]) }];
    if with_dense {
        ts.insert("fc.key".to_string(), t(&[1.0, 3.0, 5.0], &[3, 1]));
        ts.insert("fc.query".to_string(), t(&[1.0, 1.0, 1.0], &[3, 1]));
        ts.insert("fc.alpha".to_string(), t(&[0.5], &[1]));
        sites.push(SiteInfo { name: "fc".into(), channels: 3, spatial: None });
    }
    let cfg = AttentionConfig { dim: 1, pooling, ..Default::default() };
    GAttANet::new(VarBuilder::from_tensors(ts, candle_core::DType::F32, &Device::Cpu), &cfg, &sites).unwrap()
}

/// Channel 0 = [1, 2], channel 1 = [3, -1] (batch 1, H = 1, W = 2).
fn conv_act() -> Tensor {
    t(&[1.0, 2.0, 3.0, -1.0], &[1, 2, 1, 2])
}

#[test]
fn one_conv_layer_by_hand() {
    let g = hand_model(QueryPooling::LayerBalanced, false);
    let a = conv_act();
    // keys: pos0 = 1·1 + 3·2 = 7, pos1 = 2·1 + (-1)·2 = 0
    close(&vec(&g.keys(0, &a).unwrap()), &[7.0, 0.0]);
    // queries: pos0 = 1·0.5 + 3·(-1) = -2.5, pos1 = 2·0.5 + (-1)·(-1) = 2
    close(&vec(&g.queries(0, &a).unwrap()), &[-2.5, 2.0]);
    // global query: mean(-2.5, 2) = -0.25
    let q = g.global_query(std::slice::from_ref(&a)).unwrap();
    close(&vec(&q), &[-0.25]);
    // agreement: 7·(-0.25) = -1.75, 0·(-0.25) = 0
    let agreement = g.agreement(0, &a, &q).unwrap();
    assert_eq!(agreement.dims(), &[1, 1, 2]);
    close(&vec(&agreement), &[-1.75, 0.0]);
    // gain: 1 + 0.2·g = [0.65, 1]; modulation applies the same gain to both channels at a position
    let gain = g.gain(&agreement, &g.layers[0].alpha).unwrap();
    close(&vec(&gain), &[0.65, 1.0]);
    close(&vec(&modulate(&a, &gain).unwrap()), &[0.65, 2.0, 1.95, -1.0]);
}

#[test]
fn dense_layer_and_both_poolings_by_hand() {
    let fc = t(&[2.0, -1.0, 0.0], &[1, 3]);
    // dense keys k[c] = a[c]·K[c] = [2, -3, 0]; queries [2, -1, 0], layer mean 1/3
    let g = hand_model(QueryPooling::LayerBalanced, true);
    close(&vec(&g.keys(1, &fc).unwrap()), &[2.0, -3.0, 0.0]);
    close(&vec(&g.layer_query(1, &fc).unwrap()), &[1.0 / 3.0]);
    // layer-balanced: (-0.25 + 1/3) / 2
    let acts = [conv_act(), fc.clone()];
    let q = g.global_query(&acts).unwrap();
    close(&vec(&q), &[(-0.25 + 1.0 / 3.0) / 2.0]);
    let qv = (-0.25f32 + 1.0 / 3.0) / 2.0;
    close(&vec(&g.agreement(1, &fc, &q).unwrap()), &[2.0 * qv, -3.0 * qv, 0.0]);
    // flat: every position counts once: (-2.5 + 2 + 2 - 1 + 0) / 5 = 0.1
    let g = hand_model(QueryPooling::Flat, true);
    close(&vec(&g.global_query(&acts).unwrap()), &[0.1]);
    // dense modulation: gain per unit, 1 + 0.5·g
    let agreement = g.agreement(1, &fc, &t(&[0.1], &[1, 1])).unwrap();
    let gain = g.gain(&agreement, &g.layers[1].alpha).unwrap();
    close(&vec(&gain), &[1.1, 0.85, 1.0]);
    close(&vec(&modulate(&fc, &gain).unwrap()), &[2.2, -0.85, 0.0]);
}

#[test]
fn cheap_form_equals_explicit_form() {
    let dev = Device::Cpu;
    let sites = vec![
        SiteInfo { name: "a".into(), channels: 5, spatial: Some([4, 3]) },
        SiteInfo { name: "b".into(), channels: 7, spatial: Some([2, 2]) },
        SiteInfo { name: "c".into(), channels: 6, spatial: None },
    ];
    for pooling in [QueryPooling::LayerBalanced, QueryPooling::Flat] {
        for scale_by_sqrt_d in [false, true] {
            let cfg = AttentionConfig { dim: 4, pooling, scale_by_sqrt_d, alpha_init: 0.3, ..Default::default() };
            let varmap = candle_nn::VarMap::new();
            let g = GAttANet::new(VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &dev), &cfg, &sites).unwrap();
            let acts = vec![
                Tensor::randn(0f32, 1.0, (2, 5, 4, 3), &dev).unwrap(),
                Tensor::randn(0f32, 1.0, (2, 7, 2, 2), &dev).unwrap(),
                Tensor::randn(0f32, 1.0, (2, 6), &dev).unwrap(),
            ];
            let q = g.global_query(&acts).unwrap();
            let explicit = g.agreement_explicit(&acts).unwrap();
            for (l, a) in acts.iter().enumerate() {
                let cheap = g.agreement(l, a, &q).unwrap();
                assert_eq!(cheap.dims(), explicit[l].dims());
                close(&vec(&cheap), &vec(&explicit[l]));
            }
            // the batch elements really are independent: a different second image changes only row 1
            let mut acts2 = acts.clone();
            acts2[0] =
                Tensor::cat(&[acts[0].narrow(0, 0, 1).unwrap(), acts[0].narrow(0, 1, 1).unwrap().affine(2.0, 1.0).unwrap()], 0).unwrap();
            let q2 = g.global_query(&acts2).unwrap();
            close(&vec(&q2.get(0).unwrap()), &vec(&q.get(0).unwrap()));
            assert!((vec(&q2.get(1).unwrap())[0] - vec(&q.get(1).unwrap())[0]).abs() > 1e-6);
        }
    }
}

#[test]
fn bounded_gain_uses_tanh() {
    let cfg = AttentionConfig { dim: 1, bounded: true, ..Default::default() };
    let sites = vec![SiteInfo { name: "x".into(), channels: 1, spatial: None }];
    let varmap = candle_nn::VarMap::new();
    let g = GAttANet::new(VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu), &cfg, &sites).unwrap();
    let gain = g.gain(&t(&[10.0, -0.5], &[1, 2]), &t(&[0.5], &[1])).unwrap();
    close(&vec(&gain), &[1.0 + 0.5 * 10f32.tanh(), 1.0 + 0.5 * (-0.5f32).tanh()]);
}

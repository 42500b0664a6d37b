//! The explanation methods on cases whose answer is known: Grad-CAM against its closed form,
//! occlusion on a scorer that sees one quadrant, deletion and insertion on a scorer whose pixel
//! importances are known, and the rank correlation.
mod common;

use candle_core::{Device, IndexOp};
use gattanet::explain::{self, centre_map, curves, occlusion, random_map, rank_correlation, Method, Saliency, Scorer};
use gattanet::inspect::InspectOptions;
use gattanet::model::{io, RunOptions};
use gattanet::Result;

#[test]
fn grad_cam_at_the_features_of_an_average_pool_head_is_its_closed_form() {
    // logit_k = Σ_c W_kc · mean_p A_c(p) + b_k, so ∂logit_k/∂A_c(p) = W_kc / N at every position
    // and Grad-CAM = ReLU(Σ_c (W_kc / N) · A_c).
    let mut cfg = common::small_configs().into_iter().find(|c| c.name == "resnet").unwrap();
    cfg.attention = None;
    let bytes = common::weights(&cfg, 5);
    let ts = io::tensors_from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    let sites = model.graph().sites.clone();
    let site = sites.iter().rposition(|s| s.spatial.is_some()).unwrap();
    let [h, w] = sites[site].spatial.unwrap();
    let input = common::random_input(&cfg, 3);
    let x = model.input_tensor(&input).unwrap();
    let run = RunOptions { passes: 1, alphas: None, train: false, final_maps: false, keep: Some(site) };
    let a = model.run(&x, &run).unwrap().pop().unwrap().kept.unwrap().act; // (1, C, h, w)
    let mut nonzero = 0;
    for class in 0..cfg.num_classes() {
        let weights = ts["head.fc.weight"].i(class).unwrap(); // (C)
        let hand = a
            .broadcast_mul(&(weights / (h * w) as f64).unwrap().reshape((1, (), 1, 1)).unwrap())
            .unwrap()
            .sum(1)
            .unwrap()
            .relu()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let cam = explain::grad_cam(&model, &input, &InspectOptions::default(), class, site).unwrap();
        assert_eq!((cam.method, cam.grid), (Method::GradCam, [h, w]));
        for (g, e) in cam.values.iter().zip(&hand) {
            assert!((g - e).abs() <= 1e-5 * (1.0 + e.abs()), "class {class}: Grad-CAM {g}, closed form {e}");
        }
        nonzero += hand.iter().filter(|v| **v > 0.0).count();
    }
    assert!(nonzero > 0, "a degenerate case: every map is all zero");
}

#[test]
fn grad_cam_reaches_every_conv_layer_through_the_passes() {
    let cfg = common::small_configs().into_iter().find(|c| c.name == "conv-groups").unwrap();
    let model = io::from_bytes(&cfg, &common::weights(&cfg, 6), &Device::Cpu).unwrap();
    let input = common::random_input(&cfg, 4);
    for (i, s) in model.graph().sites.iter().enumerate() {
        let cam = explain::grad_cam(&model, &input, &InspectOptions::default(), 1, i);
        match s.spatial {
            Some([h, w]) => {
                let cam = cam.unwrap();
                assert_eq!(cam.values.len(), h * w, "{}", s.name);
                assert!(cam.values.iter().all(|v| v.is_finite() && *v >= 0.0), "{}: {:?}", s.name, cam.values);
            }
            None => assert!(cam.unwrap_err().to_string().contains("dense layer"), "{}", s.name),
        }
    }
}

/// p = σ(Σ_p importance_p · x_p) over the first channel of an image.
struct Weighted {
    shape: [usize; 3],
    importance: Vec<f32>,
}

impl Scorer for Weighted {
    fn shape(&self) -> [usize; 3] {
        self.shape
    }
    fn score(&self, batch: &[f32]) -> Result<Vec<f32>> {
        let [c, h, w] = self.shape;
        Ok(batch
            .chunks(c * h * w)
            .map(|img| 1.0 / (1.0 + (-img.iter().zip(&self.importance).map(|(x, k)| x * k).sum::<f32>()).exp()))
            .collect())
    }
}

#[test]
fn occlusion_of_a_model_that_sees_one_quadrant_lights_up_that_quadrant_only() {
    let (h, w) = (8, 8);
    // only the top-left 4×4 counts
    let importance: Vec<f32> = (0..h * w).map(|p| if p / w < 4 && p % w < 4 { 0.2 } else { 0.0 }).collect();
    let scorer = Weighted { shape: [2, h, w], importance };
    let input = vec![1.0; 2 * h * w];
    let map = occlusion(&scorer, &input, 4).unwrap();
    assert_eq!((map.method, map.grid), (Method::Occlusion, [4, 4]));
    for (cell, v) in map.values.iter().enumerate() {
        let inside = cell / 4 < 2 && cell % 4 < 2;
        assert!(if inside { *v > 0.01 } else { *v == 0.0 }, "cell {cell}: {v}");
    }
}

#[test]
fn deletion_and_insertion_rank_the_true_importance_first_and_its_inverse_last() {
    let (h, w) = (6, 6);
    let importance: Vec<f32> = (0..h * w).map(|p| ((p * 7) % 36) as f32 / 36.0 - 0.1).collect();
    let scorer = Weighted { shape: [1, h, w], importance: importance.clone() };
    let input = vec![1.0; h * w];
    let truth = Saliency { method: Method::Occlusion, grid: [h, w], values: importance.clone() };
    let inverted = Saliency { values: importance.iter().map(|v| -v).collect(), ..truth.clone() };
    let auc = |m: &Saliency| curves(&scorer, &input, m, 12).unwrap().auc();
    let (t, r, i) = (auc(&truth), auc(&random_map(h, w, 3)), auc(&inverted));
    assert!(t.0 < r.0 && r.0 < i.0, "deletion: truth {} random {} inverted {}", t.0, r.0, i.0);
    assert!(t.1 > r.1 && r.1 > i.1, "insertion: truth {} random {} inverted {}", t.1, r.1, i.1);
    // the curves start from the intact (deletion) and the blank (insertion) image
    let c = curves(&scorer, &input, &truth, 12).unwrap();
    assert_eq!(c.deletion[0], scorer.score(&input).unwrap()[0]);
    assert_eq!(c.insertion[0], 0.5);
    assert_eq!((c.deletion.len(), c.insertion.len()), (13, 13));
}

#[test]
fn rank_correlation_of_a_map_with_itself_its_inverse_and_a_coarser_copy() {
    let m = random_map(8, 8, 1);
    assert!((rank_correlation(&m, &m) - 1.0).abs() < 1e-6);
    let inv = Saliency { values: m.values.iter().map(|v| -v).collect(), ..m.clone() };
    assert!((rank_correlation(&m, &inv) + 1.0).abs() < 1e-6);
    // the centre prior against itself at a coarser grid: still strongly alike
    let (fine, coarse) = (centre_map(8, 8), centre_map(4, 4));
    assert!(rank_correlation(&fine, &coarse) > 0.8, "{}", rank_correlation(&fine, &coarse));
}

#[test]
fn explain_gives_every_map_of_a_model_with_class_attention() {
    let cfg = common::small_configs().into_iter().find(|c| c.name == "patchconv").unwrap();
    let model = io::from_bytes(&cfg, &common::weights(&cfg, 8), &Device::Cpu).unwrap();
    let input = common::random_input(&cfg, 2);
    let opts = explain::ExplainOptions { baselines: true, steps: 4, occlusion_grid: 4, ..Default::default() };
    let e = explain::explain(&model, &input, &InspectOptions::default(), &opts).unwrap();
    let methods: Vec<Method> = e.maps.iter().map(|m| m.method).collect();
    assert_eq!(methods, Method::ALL.to_vec());
    assert_eq!(e.curves.len(), 6);
    assert!(e.curves.iter().all(|c| c.deletion.len() == 5 && c.insertion.len() == 5));
    assert_eq!(e.correlation.len(), 6);
    assert!((e.correlation[2][2] - 1.0).abs() < 1e-6);
    // a class out of range, a layer that is not there: errors that say so
    let bad = explain::ExplainOptions { class: Some(99), ..opts.clone() };
    assert!(explain::explain(&model, &input, &InspectOptions::default(), &bad).unwrap_err().to_string().contains("class"));
    let bad = explain::ExplainOptions { layer: Some("nope".into()), ..opts };
    let err = explain::explain(&model, &input, &InspectOptions::default(), &bad).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("block1"), "{err}");
}

//! PyTorch → Rust parity: models built, randomised and exported by the Python package
//! (`python/`, `gattanet_torch`) give in our engine the numbers PyTorch computed for them.
//!
//! Each folder of `tests/fixtures/torch/` (written by `python/scripts/make_fixture.py`) holds a
//! model directory (config.json + model.safetensors, stored f32, f16 or int8), one normalised
//! input as a raw f32 tensor (`input.safetensors`, tensor `input`, shape (1, C, H, W): both sides
//! start from the same bits, no image decoding involved) and `expected.json`, PyTorch's results
//! in the `inspection.json` layout: per pass the logits, the global query, every attended layer's
//! agreement and applied gain, and the class-attention weights. The weights are far from any
//! identity (BatchNorm statistics differ per pass, α, biases and LayerScale non-zero), so a
//! different eps, a shared statistics set, a renamed tensor or a missed modulation shows.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use gattanet::inspect::{inspect, InspectOptions, Inspection};
use gattanet::model::{io, Model};
use serde_json::Value;

/// Largest error allowed, relative to the largest magnitude of the compared values (at least 1).
const REL_TOL: f64 = 1e-4;

fn fixture_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn input(dir: &Path) -> Vec<f32> {
    let tensors = candle_core::safetensors::load(dir.join("input.safetensors"), &Device::Cpu).unwrap();
    tensors["input"].flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn expected(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("expected numbers, found {other}"),
    }
}

/// The error of `got` against `want`, relative to the largest |want| (at least 1).
fn rel_error(what: &str, got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: {} values, PyTorch has {}", got.len(), want.len());
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(g, w)| (f64::from(*g) - w).abs() / scale).fold(0.0, f64::max)
}

/// Compare an inspection with PyTorch's; returns the worst relative error and where it is.
fn compare(ours: &Inspection, torch: &Value) -> (f64, String) {
    let passes = torch["passes"].as_array().unwrap();
    assert_eq!(ours.passes.len(), passes.len(), "number of passes");
    let mut worst = (0f64, String::new());
    let mut check = |what: String, got: &[f32], want: &Value| {
        let e = rel_error(&what, got, &floats(want));
        if e > worst.0 {
            worst = (e, what);
        }
    };
    for (p, (ours, want)) in ours.passes.iter().zip(passes).enumerate() {
        check(format!("pass {p} logits"), &ours.logits, &want["logits"]);
        check(format!("pass {p} global query"), &ours.global_query, &want["global_query"]);
        let layers = want["layers"].as_array().unwrap();
        let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(ours.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), names, "attended layers");
        for (l, w) in ours.layers.iter().zip(layers) {
            let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            assert_eq!(l.shape, shape, "pass {p} {}: map shape", l.name);
            check(format!("pass {p} {} agreement", l.name), &l.agreement, &w["agreement"]);
            check(format!("pass {p} {} gain", l.name), &l.gain, &w["gain"]);
        }
        match (&ours.aggregation, &want["aggregation"]) {
            (None, Value::Null) => {}
            (Some(a), w) if !w.is_null() => {
                assert_eq!(a.heads as u64, w["heads"].as_u64().unwrap(), "pass {p}: heads");
                check(format!("pass {p} class-attention weights"), &a.weights.concat(), &w["weights"]);
                check(format!("pass {p} class-attention self weight"), &a.self_weight, &w["self_weight"]);
            }
            (a, w) => panic!("pass {p}: class attention present here: {}, in PyTorch: {}", a.is_some(), !w.is_null()),
        }
    }
    worst
}

fn run(model: &Model, dir: &Path) -> Inspection {
    inspect(model, &input(dir), &InspectOptions::default()).unwrap()
}

#[test]
fn every_pytorch_fixture_gives_pytorchs_logits_maps_and_class_attention() {
    let dirs = fixture_dirs();
    assert!(dirs.len() >= 5, "expected the fixtures of python/scripts/make_fixture.py, found {dirs:?}");
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy();
        // Loading checks every tensor name, shape and dtype against the config.
        let model = io::load_dir(dir, &Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (err, at) = compare(&run(&model, dir), &expected(dir));
        println!("{name}: largest relative error {err:.2e} ({at})");
        assert!(err <= REL_TOL, "{name}: {at} differs from PyTorch by {err:.2e} (relative), more than {REL_TOL:e}");
    }
}

#[test]
fn the_fixtures_cover_every_backbone_head_and_storage() {
    let (mut backbones, mut heads, mut storages) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for dir in fixture_dirs() {
        let cfg = io::read_config(&dir).unwrap();
        let json: Value = serde_json::from_str(&cfg.to_json()).unwrap();
        backbones.insert(json["backbone"]["kind"].as_str().unwrap().to_string());
        heads.insert(json["head"]["kind"].as_str().unwrap().to_string());
        storages.insert(expected(&dir)["storage"].as_str().unwrap().to_string());
        assert!(cfg.attention.is_some(), "{}: every fixture runs GAttANet", dir.display());
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(backbones, set(&["conv_groups", "imagenet_resnet", "patchconv", "resnet", "toy"]));
    assert_eq!(heads, set(&["avg_linear", "class_attention", "mlp"]));
    assert_eq!(storages, set(&["f16", "f32", "int8"]));
}

/// The tolerance is tight enough to see an engine whose BatchNorm eps differed from PyTorch's
/// 1e-5 by 1e-3: adding 1e-3 to every running variance is the same change.
#[test]
fn a_batchnorm_eps_off_by_1e_3_breaks_parity() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch/resnet-class-attention");
    let cfg = io::read_config(&dir).unwrap();
    let bytes = std::fs::read(dir.join(io::WEIGHTS_FILE)).unwrap();
    let mut tensors = io::tensors_from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    let vars: Vec<String> = tensors.keys().filter(|k| k.ends_with(".var")).cloned().collect();
    assert!(!vars.is_empty());
    for k in vars {
        let t: &Tensor = &tensors[&k];
        tensors.insert(k, (t + 1e-3).unwrap());
    }
    let shifted = io::to_safetensors(&tensors, io::Storage::F32).unwrap();
    let model = io::from_bytes(&cfg, &shifted, &Device::Cpu).unwrap();
    let (err, at) = compare(&run(&model, &dir), &expected(&dir));
    assert!(err > 10.0 * REL_TOL, "eps off by 1e-3 moved the results by only {err:.2e} ({at})");
}

/// A tensor named differently on the two sides is refused by name, not silently left at zero.
#[test]
fn a_renamed_tensor_is_refused_by_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch/imagenet-resnet50");
    let cfg = io::read_config(&dir).unwrap();
    let bytes = std::fs::read(dir.join(io::WEIGHTS_FILE)).unwrap();
    let mut tensors: BTreeMap<_, _> = io::tensors_from_bytes(&cfg, &bytes, &Device::Cpu).unwrap().into_iter().collect();
    let t = tensors.remove("backbone.stage2.block1.shortcut.bn.stats1.var").unwrap();
    tensors.insert("backbone.stage2.block1.downsample.1.running_var".into(), t);
    let bytes = io::to_safetensors(&tensors.into_iter().collect(), io::Storage::F32).unwrap();
    let err = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("backbone.stage2.block1.shortcut.bn.stats1.var"), "{err}");
}

//! Model-level behaviour: α = 0 is the plain backbone, gradients reach K, Q and α, save/load round trips,
//! and every config/weights error names its field or tensor.
mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use gattanet::model::{io, ModelConfig, RunOptions};
use gattanet::Error;

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

fn input(cfg: &ModelConfig, batch: usize) -> Tensor {
    let [h, w] = cfg.input.size;
    Tensor::randn(0f32, 1.0, (batch, 3, h, w), &Device::Cpu).unwrap()
}

fn eval(passes: usize) -> RunOptions {
    RunOptions { passes, alphas: None, train: false, final_maps: true, keep: None }
}

/// Random tensors for a config, with BatchNorm statistics that are not the identity and are the
/// same in every per-pass set (so pass differences come from the modulation alone).
fn random_tensors(cfg: &ModelConfig) -> HashMap<String, Tensor> {
    let (_, varmap) = io::init(cfg, &Device::Cpu).unwrap();
    let mut ts = io::varmap_tensors(&varmap);
    let names: Vec<String> = ts.keys().cloned().collect();
    for name in names {
        if let Some(base) = name.strip_suffix("stats0.mean") {
            let n = ts[&name].elem_count();
            let mean = Tensor::randn(0f32, 0.3, n, &Device::Cpu).unwrap();
            let var = Tensor::rand(0.5f32, 2.0, n, &Device::Cpu).unwrap();
            for s in 0..cfg.stat_sets() {
                ts.insert(format!("{base}stats{s}.mean"), mean.clone());
                ts.insert(format!("{base}stats{s}.var"), var.clone());
            }
        }
    }
    ts
}

#[test]
fn alpha_zero_is_the_plain_backbone_for_every_backbone() {
    for cfg in common::small_configs() {
        let ts = random_tensors(&cfg);
        let mut plain_cfg = cfg.clone();
        plain_cfg.attention = None;
        let plain_ts: HashMap<_, _> = ts
            .iter()
            .filter(|(k, _)| !k.starts_with("gatta.") && !k.contains("stats1") && !k.contains("stats2"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let bytes = io::to_safetensors(&plain_ts, io::Storage::F32).unwrap();
        let plain = io::from_bytes(&plain_cfg, &bytes, &Device::Cpu).unwrap();
        let bytes = io::to_safetensors(&ts, io::Storage::F32).unwrap();
        let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();

        let x = input(&cfg, 2);
        let reference = &plain.run(&x, &eval(1)).unwrap()[0].logits;
        let n = model.attended_sites().len();
        let zero = model.run(&x, &RunOptions { alphas: Some(vec![0.0; n]), ..eval(3) }).unwrap();
        for (t, out) in zero.iter().enumerate() {
            assert!(max_diff(&out.logits, reference) < 1e-5, "{}: pass {t} with α = 0 differs from the plain backbone", cfg.name);
        }
        // and the modulation is really there when α ≠ 0
        let on = model.run(&x, &RunOptions { alphas: Some(vec![0.5; n]), ..eval(2) }).unwrap();
        assert!(max_diff(&on[0].logits, reference) < 1e-5, "{}: pass 0 must be the plain pass", cfg.name);
        // (small random models have small agreements: any change well above float noise counts)
        assert!(max_diff(&on[1].logits, reference) > 1e-6, "{}: α = 0.5 changed nothing", cfg.name);
        // the gain applied in pass 1 is 1 + α·g(pass 0), or 1 + α·tanh(g) when bounded
        let g0 = &on[0].agreement;
        let gains = on[1].gains.as_ref().unwrap();
        assert_eq!(g0.len(), gains.len());
        assert!(!gains.is_empty());
        let bounded = cfg.attention.as_ref().unwrap().bounded;
        for (g, gain) in g0.iter().zip(gains) {
            let g = if bounded { g.tanh().unwrap() } else { g.clone() };
            assert!(max_diff(&(g.affine(0.5, 1.0).unwrap()), gain) < 1e-5, "{}", cfg.name);
        }
    }
}

#[test]
fn one_backward_pass_reaches_keys_queries_and_alpha() {
    for mut cfg in common::small_configs() {
        cfg.attention.as_mut().unwrap().alpha_init = 0.1;
        let (model, varmap) = io::init(&cfg, &Device::Cpu).unwrap();
        let x = input(&cfg, 3);
        let outs = model.run(&x, &RunOptions { passes: 2, alphas: None, train: true, final_maps: false, keep: None }).unwrap();
        let labels = Tensor::new(&[0u32, 1, 2], &Device::Cpu).unwrap();
        let loss = candle_nn::loss::cross_entropy(&outs.last().unwrap().logits, &labels).unwrap();
        let grads = loss.backward().unwrap();
        let data = varmap.data().lock().unwrap();
        let mut seen = 0;
        for (name, var) in data.iter().filter(|(k, _)| k.starts_with("gatta.")) {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{}: no gradient for {name}", cfg.name));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{}: zero gradient for {name}", cfg.name);
            seen += 1;
        }
        assert_eq!(seen, 3 * model.attended_sites().len());
        // backbone weights get gradients too
        assert!(data.iter().any(|(k, v)| k.starts_with("backbone.") && grads.get(v.as_tensor()).is_some()));
    }
}

#[test]
fn alpha_gets_a_gradient_even_at_zero() {
    let cfg = common::small_configs().remove(0);
    let (model, varmap) = io::init(&cfg, &Device::Cpu).unwrap();
    let outs = model.run(&input(&cfg, 2), &RunOptions { passes: 2, alphas: None, train: true, final_maps: false, keep: None }).unwrap();
    let loss = outs[1].logits.sqr().unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let data = varmap.data().lock().unwrap();
    let alpha: &Var = &data["gatta.conv1.alpha"];
    let g = grads.get(alpha.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
    assert!(g[0] != 0.0);
}

#[test]
fn conv_groups_sites_follow_the_pools_and_the_whitening_stays_frozen() {
    let cfg = common::small_configs().into_iter().find(|c| c.name == "conv-groups").unwrap();
    let (model, varmap) = io::init(&cfg, &Device::Cpu).unwrap();
    // 10x10 input, widths [6, 8], one block: conv1 of a group at its input size, conv2 after the 2x2 pool.
    let sites: Vec<(String, usize, Option<[usize; 2]>)> =
        model.attended_sites().iter().map(|s| (s.name.clone(), s.channels, s.spatial)).collect();
    let want = [
        ("group1.conv1", 6, Some([10, 10])),
        ("group1.conv2", 6, Some([5, 5])),
        ("group2.conv1", 8, Some([5, 5])),
        ("group2.conv2", 8, Some([2, 2])),
        ("block1", 8, Some([2, 2])),
        ("logits", 4, None),
    ];
    assert_eq!(sites, want.map(|(n, c, s)| (n.to_string(), c, s)).to_vec());
    assert_eq!(cfg.feature_shape(), [8, 2, 2]);
    let outs = model
        .run(&input(&cfg, 2), &RunOptions { passes: 2, alphas: Some(vec![0.5; 6]), train: true, final_maps: false, keep: None })
        .unwrap();
    for (o, s) in outs[1].gains.as_ref().unwrap().iter().zip(&want) {
        let n = s.2.map_or(s.1, |[h, w]| h * w);
        assert_eq!(o.elem_count(), 2 * n, "{}", s.0);
    }
    let grads = outs[1].logits.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let data = varmap.data().lock().unwrap();
    assert!(grads.get(data["backbone.whiten.weight"].as_tensor()).is_none(), "the whitening conv must not be trained");
    assert!(grads.get(data["backbone.group1.conv1.conv.weight"].as_tensor()).is_some());
    assert!(grads.get(data["backbone.block1.conv2.conv.weight"].as_tensor()).is_some());
}

#[test]
fn per_pass_batchnorm_statistics_are_updated_per_pass() {
    let cfg = common::small_configs().remove(0);
    let (model, varmap) = io::init(&cfg, &Device::Cpu).unwrap();
    let n = model.attended_sites().len();
    let x = input(&cfg, 4).affine(2.0, 1.0).unwrap();
    model.run(&x, &RunOptions { passes: 2, alphas: Some(vec![0.8; n]), train: true, final_maps: false, keep: None }).unwrap();
    let data = varmap.data().lock().unwrap();
    let m0 = data["backbone.conv2.bn.stats0.mean"].as_tensor().clone();
    let m1 = data["backbone.conv2.bn.stats1.mean"].as_tensor().clone();
    assert!(m0.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() > 0.0, "statistics not updated");
    assert!(max_diff(&m0, &m1) > 1e-6, "pass 1 saw modulated activations, its statistics must differ");
}

#[test]
fn save_load_round_trip_f32_f16_int8() {
    let dir = tempfile::tempdir().unwrap();
    // The small configs' tensors are all below the int8 threshold (stored f16): one config with
    // a dense layer large enough makes the int8 case really store int8.
    let mut big = common::small_configs().remove(0);
    big.name = "big-dense".into();
    big.head = gattanet::model::HeadConfig::Mlp { hidden: 64 };
    for cfg in common::small_configs().into_iter().chain([big]) {
        let ts = random_tensors(&cfg);
        let bytes = io::to_safetensors(&ts, io::Storage::F32).unwrap();
        let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
        let x = input(&cfg, 1);
        let reference = model.run(&x, &RunOptions { alphas: Some(vec![0.3; model.attended_sites().len()]), ..eval(2) }).unwrap();
        for (dtype, tol) in [(io::Storage::F32, 0.0), (io::Storage::F16, 2e-2), (io::Storage::Int8, 5e-2)] {
            let path = dir.path().join(format!("{}-{dtype:?}", cfg.name));
            io::save_dir(&path, &cfg, &ts, dtype).unwrap();
            let loaded = io::load_dir(&path, &Device::Cpu).unwrap();
            assert_eq!(loaded.config, cfg);
            if cfg.name == "big-dense" && dtype == io::Storage::Int8 {
                let file = std::fs::read(path.join(io::WEIGHTS_FILE)).unwrap();
                let st = safetensors::SafeTensors::deserialize(&file).unwrap();
                assert!(st.tensors().iter().any(|(_, v)| v.dtype() == safetensors::Dtype::I8), "nothing stored as int8");
            }
            let out = loaded.run(&x, &RunOptions { alphas: Some(vec![0.3; model.attended_sites().len()]), ..eval(2) }).unwrap();
            for (a, b) in out.iter().zip(&reference) {
                let d = max_diff(&a.logits, &b.logits);
                assert!(d <= tol, "{} {dtype:?}: logits differ by {d}", cfg.name);
            }
        }
    }
}

#[test]
fn values_beyond_f16_are_refused_for_f16_storage_not_stored_as_infinity() {
    let cfg = common::small_configs().remove(1);
    let mut ts = random_tensors(&cfg);
    ts.insert("head.fc.bias".into(), Tensor::new(&[1.0f32, -1e5, 2.0], &Device::Cpu).unwrap());
    for storage in [io::Storage::F16, io::Storage::Int8] {
        let err = io::to_safetensors(&ts, storage).unwrap_err().to_string();
        assert!(err.contains("head.fc.bias") && err.contains("65504"), "{err}");
    }
    let bytes = io::to_safetensors(&ts, io::Storage::F32).unwrap();
    assert!(io::from_bytes(&cfg, &bytes, &Device::Cpu).is_ok());
}

/// Int8 storage: the large matrices become int8 with one scale per row (max |w| / 127), so each
/// decoded weight is within half a step of the original; small tensors stay f16.
#[test]
fn int8_storage_quantises_rows_within_half_a_step() {
    let mut cfg = common::small_configs().remove(0);
    cfg.head = gattanet::model::HeadConfig::Mlp { hidden: 64 };
    let ts = random_tensors(&cfg);
    let bytes = io::to_safetensors(&ts, io::Storage::Int8).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let big: Vec<_> = ts.iter().filter(|(_, t)| t.rank() >= 2 && t.elem_count() >= io::INT8_MIN_ELEMS).collect();
    assert!(!big.is_empty(), "the test config needs a tensor large enough for int8");
    let decoded = io::read_tensors(&cfg, &bytes).unwrap();
    for (name, t) in &ts {
        let original = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (shape, values) = &decoded[name];
        assert_eq!(shape.as_slice(), t.dims());
        let quantised = big.iter().any(|(n, _)| n == &name);
        let stored = st.tensor(name).unwrap().dtype();
        assert_eq!(stored, if quantised { safetensors::Dtype::I8 } else { safetensors::Dtype::F16 }, "{name}");
        let row = original.len() / t.dims()[0];
        for (r, (o, v)) in original.chunks(row).zip(values.chunks(row)).enumerate() {
            let max = o.iter().fold(0f32, |m, x| m.max(x.abs()));
            let step = if quantised { max / 127.0 } else { max / 1024.0 };
            for (a, b) in o.iter().zip(v) {
                assert!((a - b).abs() <= step / 2.0 + 1e-7, "{name} row {r}: {a} stored as {b} (step {step})");
            }
        }
    }
    // A quantised file without its scales names the tensor and what is missing.
    let (name, _) = big[0];
    let without: Vec<(String, safetensors::tensor::TensorView)> =
        st.tensors().into_iter().filter(|(k, _)| *k != format!("{name}.qscale")).collect();
    let broken = safetensors::serialize(without, None).unwrap();
    let err = io::from_bytes(&cfg, &broken, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains(name.as_str()) && err.contains("qscale"), "{err}");
}

fn config_error(json: &str) -> String {
    match ModelConfig::from_json(json) {
        Err(e @ Error::Config { .. }) => e.to_string(),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn config_errors_name_the_field() {
    let good = common::small_configs().remove(0).to_json();
    assert!(ModelConfig::from_json(&good).is_ok());
    let cases = [
        (good.replace("\"channels\": [\n      4", "\"chanels\": [\n      4"), "chanels"),
        (good.replace("\"kind\": \"toy\"", "\"kind\": \"vgg\""), "vgg"),
        (good.replace("\"passes\": 2", "\"passes\": 0"), "attention.passes"),
        (good.replace("\"dim\": 4", "\"dim\": 0"), "attention.dim"),
        (good.replace("\"hidden\": 10", "\"hidden\": 0"), "head.hidden"),
        (good.replace("\"layers\": null", "\"layers\": [\"conv9\"]"), "conv9"),
        ("{".to_string(), "config.json"),
    ];
    for (json, needle) in cases {
        assert_ne!(json, good, "test case for {needle} did not change the config");
        let msg = config_error(&json);
        assert!(msg.contains(needle), "`{msg}` does not name `{needle}`");
    }
    let mut cfg = common::small_configs().remove(1);
    cfg.backbone = gattanet::model::BackboneConfig::Resnet { depth: 21, width: 4 };
    assert!(cfg.validate().unwrap_err().to_string().contains("backbone.depth"));
    let mut cfg = common::small_configs().remove(2);
    cfg.head = gattanet::model::HeadConfig::ClassAttention { heads: 3, mlp_ratio: 2, init_scale: 0.1 };
    assert!(cfg.validate().unwrap_err().to_string().contains("head.heads"));
    let mut cfg = common::small_configs().remove(0);
    cfg.input.size = [1024, 1024];
    cfg.head = gattanet::model::HeadConfig::Mlp { hidden: 1000 }; // 8×255×255 features × 1000 units
    assert!(cfg.validate().unwrap_err().to_string().contains("head.hidden"));
    let mut cfg = common::small_configs().remove(0);
    cfg.input.std = vec![1.0, 0.0, 1.0];
    assert!(cfg.validate().unwrap_err().to_string().contains("input.std"));
    // Absurd sizes fail before anything is allocated or multiplied (no overflow, no abort).
    use gattanet::model::{BackboneConfig, HeadConfig};
    let absurd = [
        (BackboneConfig::Toy { channels: [200_000, 200_000, 8] }, HeadConfig::AvgLinear, "backbone.channels"),
        (
            BackboneConfig::Resnet { depth: 8, width: 4_611_686_018_427_387_905 },
            HeadConfig::ClassAttention { heads: 4, mlp_ratio: 2, init_scale: 0.1 },
            "backbone.width",
        ),
        (BackboneConfig::Resnet { depth: 600_000_002, width: 4 }, HeadConfig::AvgLinear, "backbone.depth"),
        // each size allowed, together too many weights (~4 G)
        (BackboneConfig::Resnet { depth: 302, width: 1024 }, HeadConfig::AvgLinear, "M weights"),
        // few weights (4.7 M), but 2 GB for one image's first layer at 1024×1024 (input set below)
        (BackboneConfig::Toy { channels: [512, 512, 512] }, HeadConfig::AvgLinear, "MB; at most 1024 MB"),
        (
            BackboneConfig::Patchconv { dim: 64, depth: 2, stem_stride: 2, init_scale: 0.1, se_ratio: 0.25 },
            HeadConfig::ClassAttention { heads: 4, mlp_ratio: 1 << 40, init_scale: 0.1 },
            "head.mlp_ratio",
        ),
    ];
    for (backbone, head, needle) in absurd {
        let mut cfg = common::small_configs().remove(0);
        (cfg.backbone, cfg.head) = (backbone, head);
        if needle.contains("1024 MB") {
            cfg.input.size = [1024, 1024];
        }
        let msg = cfg.validate().unwrap_err().to_string();
        assert!(msg.contains(needle), "`{msg}` does not name `{needle}`");
        assert!(io::expected_tensors(&cfg).is_err(), "{needle}: the tensors of an invalid config were built");
    }
    // The shipped configs are far inside the bounds.
    for json in [include_str!("../configs/toy-gattanet.json"), include_str!("../configs/patchconv-gattanet.json")] {
        ModelConfig::from_json(json).unwrap();
    }
}

#[test]
fn weight_errors_name_the_tensor_and_shapes() {
    let cfg = common::small_configs().remove(0);
    let ts = random_tensors(&cfg);
    let load = |ts: &HashMap<String, Tensor>| io::from_bytes(&cfg, &io::to_safetensors(ts, io::Storage::F32).unwrap(), &Device::Cpu);

    let mut missing = ts.clone();
    missing.remove("gatta.conv2.key");
    let msg = load(&missing).unwrap_err().to_string();
    assert!(msg.contains("gatta.conv2.key") && msg.contains("missing") && msg.contains("[6, 4]"), "{msg}");

    let mut wrong = ts.clone();
    wrong.insert("backbone.conv1.conv.weight".into(), Tensor::zeros((4, 3, 5, 5), DType::F32, &Device::Cpu).unwrap());
    let msg = load(&wrong).unwrap_err().to_string();
    assert!(msg.contains("backbone.conv1.conv.weight") && msg.contains("[4, 3, 3, 3]") && msg.contains("[4, 3, 5, 5]"), "{msg}");

    let mut extra = ts.clone();
    extra.insert("head.surprise".into(), Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap());
    let msg = load(&extra).unwrap_err().to_string();
    assert!(msg.contains("head.surprise") && msg.contains("not used"), "{msg}");

    // Non-finite values (NaN, ±Inf) in weights or statistics are refused with the tensor's name.
    for (name, bad) in [("backbone.conv2.bn.stats1.var", f32::NAN), ("head.fc2.weight", f32::INFINITY)] {
        let mut t = ts.clone();
        let v = &t[name];
        let mut values = v.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        values[1] = bad;
        t.insert(name.into(), Tensor::from_vec(values, v.shape(), &Device::Cpu).unwrap());
        let msg = load(&t).unwrap_err().to_string();
        assert!(msg.contains(name) && msg.contains("finite"), "{msg}");
    }

    let mut ints = ts.clone();
    ints.insert("gatta.conv1.alpha".into(), Tensor::zeros(1, DType::U32, &Device::Cpu).unwrap());
    let dir = tempfile::tempdir().unwrap();
    candle_core::safetensors::save(&ints, dir.path().join("w.safetensors")).unwrap();
    let bytes = std::fs::read(dir.path().join("w.safetensors")).unwrap();
    let msg = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap_err().to_string();
    assert!(msg.contains("gatta.conv1.alpha") && msg.contains("float"), "{msg}");

    for junk in [&b""[..], b"not a safetensors file at all", &[0xff; 64]] {
        let msg = io::from_bytes(&cfg, junk, &Device::Cpu).unwrap_err().to_string();
        assert!(msg.contains("model.safetensors") && msg.contains("not a valid safetensors file"), "{msg}");
    }

    // weights of another architecture: the first mismatch is named
    let other = random_tensors(&common::small_configs().remove(1));
    assert!(matches!(load(&other), Err(Error::Weights { .. })));
}

#[test]
fn model_dir_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let msg = io::load_dir(&dir.path().join("nope"), &Device::Cpu).unwrap_err().to_string();
    assert!(msg.contains("nope") && msg.contains("not a model directory"), "{msg}");
    std::fs::write(dir.path().join("config.json"), "{\"name\": 3}").unwrap();
    let msg = io::load_dir(dir.path(), &Device::Cpu).unwrap_err().to_string();
    assert!(msg.contains("config.json"), "{msg}");
    let cfg = common::small_configs().remove(0);
    std::fs::write(dir.path().join("config.json"), cfg.to_json()).unwrap();
    let msg = io::load_dir(dir.path(), &Device::Cpu).unwrap_err().to_string();
    assert!(msg.contains("model.safetensors"), "{msg}");
}

#[test]
fn class_attention_weights_are_a_distribution_over_token_and_patches() {
    let cfg = common::small_configs().remove(2); // patchconv: 16 / 4 → 4×4 patches, 2 heads
    let (model, _) = io::init(&cfg, &Device::Cpu).unwrap();
    let out = model.run(&input(&cfg, 2), &eval(2)).unwrap();
    for pass in &out {
        let a = pass.class_attention.as_ref().unwrap();
        assert_eq!(a.dims(), &[2, 2, 1 + 16]);
        let sums = a.sum(2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
    }
}

#[test]
fn the_graph_lists_exactly_the_tensors_the_candle_model_reads() {
    let shipped = [
        "toy-gattanet",
        "toy-baseline",
        "patchconv-gattanet",
        "resnet20-gattanet",
        "convgroups-gattanet",
        "convgroups-baseline",
        "imagenet-resnet18-gattanet",
        "imagenet-resnet50-gattanet",
    ];
    let mut configs = common::small_configs();
    for name in shipped {
        let path = format!("{}/configs/{name}.json", env!("CARGO_MANIFEST_DIR"));
        configs.push(ModelConfig::from_json(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap());
    }
    for cfg in configs {
        let (_, varmap) = io::init(&cfg, &Device::Cpu).unwrap();
        let built: std::collections::BTreeMap<String, Vec<usize>> =
            io::varmap_tensors(&varmap).into_iter().map(|(k, t)| (k, t.dims().to_vec())).collect();
        let listed = io::expected_tensors(&cfg).unwrap();
        assert_eq!(listed, built, "{}", cfg.name);
        assert_eq!(cfg.graph().weights.len(), listed.len(), "{}: a tensor listed twice", cfg.name);
    }
}

#[test]
fn a_non_finite_result_is_an_error_not_a_result() {
    let cfg = common::small_configs().remove(0);
    let bytes = io::to_safetensors(&random_tensors(&cfg), io::Storage::F32).unwrap();
    let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    let x: Vec<f32> = input(&cfg, 1).flatten_all().unwrap().to_vec1().unwrap();
    let mut options = gattanet::inspect::InspectOptions { passes: Some(3), ..Default::default() };
    assert!(gattanet::inspect::inspect(&model, &x, &options).is_ok());
    // α = 1e30 at every layer: the gains overflow f32 within a pass or two
    options.alpha_overrides = model.attended_sites().iter().map(|s| (s.name.clone(), 1e30)).collect();
    let err = gattanet::inspect::inspect(&model, &x, &options).unwrap_err().to_string();
    assert!(err.contains("not finite numbers") && err.contains("attention strength"), "{err}");
}

#[test]
fn toy_cnn_matches_the_paper_shapes() {
    let cfg = ModelConfig::from_json(include_str!("../configs/toy-gattanet.json")).unwrap();
    let shapes: Vec<_> = cfg.attention_sites().iter().map(|s| (s.name.clone(), s.channels, s.spatial)).collect();
    assert_eq!(
        shapes,
        vec![
            ("conv1".into(), 64, Some([32, 32])),
            ("conv2".into(), 128, Some([15, 15])),
            ("conv3".into(), 256, Some([7, 7])),
            ("fc1".into(), 256, None),
            ("logits".into(), 10, None),
        ]
    );
    let plain = ModelConfig::from_json(include_str!("../configs/toy-baseline.json")).unwrap();
    let (model, varmap) = io::init(&plain, &Device::Cpu).unwrap();
    let params: usize = varmap.all_vars().iter().filter(|v| v.elem_count() > 0).map(|v| v.elem_count()).sum::<usize>()
        - io::varmap_tensors(&varmap).iter().filter(|(k, _)| k.contains(".stats")).map(|(_, t)| t.elem_count()).sum::<usize>();
    // 3.585 M parameters and 36.0 M multiply-adds, as the PyTorch reference counts them
    assert!((params as f64 - 3.585e6).abs() < 1e3, "{params}");
    assert!((model.macs_per_pass() as f64 - 36.0e6).abs() < 0.1e6, "{}", model.macs_per_pass());
}

#[test]
fn the_imagenet_resnets_have_torchvisions_sizes() {
    // Parameters (BatchNorm statistics aside) and multiply-adds of torchvision's ResNet-18 and
    // ResNet-50 at 224×224 with 1000 classes: 11,689,512 / 1.81 G and 25,557,032 / 4.09 G.
    for (name, params, gmacs) in [("imagenet-resnet18-gattanet", 11_689_512, 1.81), ("imagenet-resnet50-gattanet", 25_557_032, 4.09)] {
        let path = format!("{}/configs/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let mut cfg = ModelConfig::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        cfg.attention = None;
        let graph = cfg.graph();
        let trained: usize = graph.weights.iter().filter(|w| !w.name.contains(".stats")).map(|w| w.shape.iter().product::<usize>()).sum();
        assert_eq!(trained, params, "{name}");
        let g = graph.macs() as f64 / 1e9;
        assert!((g - gmacs).abs() < 0.01, "{name}: {g:.3} G multiply-adds");
        assert_eq!(graph.features, [if name.contains("50") { 2048 } else { 512 }, 7, 7], "{name}");
        let sites: Vec<_> = graph.sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(sites.first(), Some(&"stage1.block1"));
        let last = if name.contains("50") { "stage4.block3" } else { "stage4.block2" };
        assert_eq!(sites[sites.len() - 2..], [last, "logits"], "{name}");
    }
}

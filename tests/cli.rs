//! The `gattanet` command end to end: init a random model of every backbone, inspect generated
//! images, check inspection.json and the PNGs; bad inputs give one clear line and spare the others.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn gattanet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gattanet")).args(args).output().expect("run gattanet")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A colourful test picture of any size.
fn picture(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) % 64 * 4) as u8]))
}

fn write_images(dir: &Path) -> Vec<PathBuf> {
    let png = dir.join("wide.png");
    picture(90, 40).save(&png).unwrap();
    let jpg = dir.join("tall.jpg");
    picture(30, 70).save(&jpg).unwrap();
    let gray = dir.join("gray.png");
    image::DynamicImage::ImageRgb8(picture(20, 20)).to_luma8().save(&gray).unwrap();
    let rgba = dir.join("alpha.png");
    image::DynamicImage::ImageRgb8(picture(33, 33)).to_rgba8().save(&rgba).unwrap();
    vec![png, jpg, gray, rgba]
}

fn model_dir(root: &Path, cfg: &gattanet::model::ModelConfig) -> PathBuf {
    let cfg_path = root.join(format!("{}.json", cfg.name));
    std::fs::write(&cfg_path, cfg.to_json()).unwrap();
    let dir = root.join(&cfg.name);
    let out = gattanet(&["init", "--config", cfg_path.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    dir
}

#[test]
fn inspect_every_backbone_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let images = write_images(tmp.path());
    for cfg in common::small_configs() {
        let model = model_dir(tmp.path(), &cfg);
        let out_dir = tmp.path().join(format!("out-{}", cfg.name));
        let mut args =
            vec!["inspect", "--model", model.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--passes", "3", "--top-k", "3"];
        args.extend(images.iter().map(|p| p.to_str().unwrap()));
        let out = gattanet(&args);
        assert!(out.status.success(), "{}: {}", cfg.name, text(&out));

        let sites = cfg.attention_sites();
        let attended: Vec<_> = match &cfg.attention.as_ref().unwrap().layers {
            Some(names) => sites.iter().filter(|s| names.contains(&s.name)).collect(),
            None => sites.iter().collect(),
        };
        for stem in ["wide", "tall", "gray", "alpha"] {
            let dir = out_dir.join(stem);
            let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("inspection.json")).unwrap()).unwrap();
            assert_eq!(json["model"], cfg.name.as_str());
            assert_eq!(json["classes"].as_array().unwrap().len(), cfg.classes.len());
            let passes = json["passes"].as_array().unwrap();
            assert_eq!(passes.len(), 3);
            for (t, pass) in passes.iter().enumerate() {
                let p: Vec<f64> = pass["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4);
                assert_eq!(pass["top"].as_array().unwrap().len(), 3);
                assert!(pass["top"][0]["p"].as_f64().unwrap() >= pass["top"][1]["p"].as_f64().unwrap());
                let layers = pass["layers"].as_array().unwrap();
                assert_eq!(layers.len(), attended.len());
                for (layer, site) in layers.iter().zip(&attended) {
                    assert_eq!(layer["name"], site.name.as_str());
                    let n: usize = layer["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).product();
                    assert_eq!(layer["agreement"].as_array().unwrap().len(), n);
                    assert_eq!(layer["gain"].as_array().unwrap().len(), n);
                    let file = site.name.replace('.', "_");
                    assert!(dir.join(format!("pass{t}/{file}.png")).is_file(), "{}: pass{t}/{file}.png", cfg.name);
                    match site.spatial {
                        Some([h, w]) => {
                            assert_eq!(layer["kind"], "conv");
                            assert_eq!(layer["shape"], serde_json::json!([h, w]));
                            assert!(dir.join(format!("pass{t}/{file}_overlay.png")).is_file());
                        }
                        None => assert_eq!(layer["kind"], "dense"),
                    }
                    if t == 0 {
                        assert!(layer["gain"].as_array().unwrap().iter().all(|g| g.as_f64() == Some(1.0)));
                    }
                }
                match &cfg.head {
                    gattanet::model::HeadConfig::ClassAttention { heads, .. } => {
                        let agg = &pass["aggregation"];
                        assert_eq!(agg["heads"].as_u64().unwrap() as usize, *heads);
                        let [_, gh, gw] = cfg.feature_shape();
                        assert_eq!(agg["grid"], serde_json::json!([gh, gw]));
                        for h in 0..*heads {
                            let sum: f64 = agg["weights"][h].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum::<f64>()
                                + agg["self_weight"][h].as_f64().unwrap();
                            assert!((sum - 1.0).abs() < 1e-4);
                            assert!(dir.join(format!("pass{t}/attention_head{h}.png")).is_file());
                        }
                    }
                    _ => assert!(pass["aggregation"].is_null()),
                }
                assert!(dir.join(format!("pass{t}/top.png")).is_file());
            }
            // input.png is the crop the model sees, at the model's input size
            let input = image::open(dir.join("input.png")).unwrap();
            assert_eq!([input.height() as usize, input.width() as usize], cfg.input.size);
            assert!(dir.join("passes.png").is_file() && dir.join("alphas.png").is_file());
        }
    }
}

#[test]
fn options_change_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    let images = write_images(tmp.path());
    let cfg = common::small_configs().remove(0);
    let model = model_dir(tmp.path(), &cfg);
    let run = |extra: &[&str]| -> Value {
        let out_dir = tmp.path().join("opt");
        let mut args = vec!["inspect", images[0].to_str().unwrap(), "--model", model.to_str().unwrap(), "--out", out_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = gattanet(&args);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("wide/inspection.json")).unwrap()).unwrap()
    };
    // --no-attention: one plain pass, α used 0
    let off = run(&["--no-attention"]);
    assert_eq!(off["passes"].as_array().unwrap().len(), 1);
    assert!(off["alphas"].as_array().unwrap().iter().all(|a| a["used"] == 0.0));
    // an override sets one layer's α and the gain of pass 1 follows 1 + α·g(pass 0)
    let on = run(&["--alpha", "conv2=2.5", "--passes", "2"]);
    let alphas = on["alphas"].as_array().unwrap();
    assert_eq!(alphas[1]["name"], "conv2");
    assert_eq!(alphas[1]["used"], 2.5);
    let g0 = on["passes"][0]["layers"][1]["agreement"].as_array().unwrap();
    let gain1 = on["passes"][1]["layers"][1]["gain"].as_array().unwrap();
    for (g, gain) in g0.iter().zip(gain1) {
        assert!((1.0 + 2.5 * g.as_f64().unwrap() - gain.as_f64().unwrap()).abs() < 1e-4);
    }
    assert_ne!(on["passes"][1]["logits"], on["passes"][0]["logits"]);
    // an unknown layer is a clear error
    let out = gattanet(&[
        "inspect",
        images[0].to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        tmp.path().to_str().unwrap(),
        "--alpha",
        "conv9=1",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("conv9"), "{}", text(&out));
}

#[test]
fn bad_inputs_give_one_clear_line_and_spare_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let images = write_images(tmp.path());
    let model = model_dir(tmp.path(), &common::small_configs().remove(1));
    let not_image = tmp.path().join("notes.jpg");
    std::fs::write(&not_image, "this is text, not a picture").unwrap();
    let truncated = tmp.path().join("cut.png");
    let full = std::fs::read(&images[0]).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let empty = tmp.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let missing = tmp.path().join("missing.png");
    let out_dir = tmp.path().join("out");
    let out = gattanet(&[
        "inspect",
        not_image.to_str().unwrap(),
        images[0].to_str().unwrap(),
        truncated.to_str().unwrap(),
        empty.to_str().unwrap(),
        missing.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 4, "{stderr}");
    assert!(errors[0].contains("notes.jpg") && errors[0].contains("not an image"), "{}", errors[0]);
    assert!(errors[1].contains("cut.png") && errors[1].to_lowercase().contains("png"), "{}", errors[1]);
    assert!(errors[2].contains("empty.png") && errors[2].contains("empty"), "{}", errors[2]);
    assert!(errors[3].contains("missing.png"), "{}", errors[3]);
    assert!(out_dir.join("wide/inspection.json").is_file(), "the good image was not processed");

    // a wrong model directory: exit 2 and one line naming it
    let out = gattanet(&[
        "inspect",
        images[0].to_str().unwrap(),
        "--model",
        tmp.path().join("nomodel").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("nomodel"), "{}", text(&out));
    // weights of another config
    let other = model_dir(tmp.path(), &common::small_configs().remove(0));
    std::fs::copy(other.join("model.safetensors"), model.join("model.safetensors")).unwrap();
    let out = gattanet(&["inspect", images[0].to_str().unwrap(), "--model", model.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("weights do not match the config: tensor"), "{}", text(&out));
}

#[test]
fn explain_and_faithfulness_write_every_map_and_their_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = common::small_configs().into_iter().find(|c| c.name == "patchconv").unwrap();
    let model = model_dir(tmp.path(), &cfg);
    let images = write_images(tmp.path());
    let out_dir = tmp.path().join("explain");
    let (m, o) = (model.to_str().unwrap(), out_dir.to_str().unwrap());
    let out =
        gattanet(&["explain", images[0].to_str().unwrap(), "--model", m, "--out", o, "--steps", "4", "--grid", "4", "--class", "class2"]);
    assert!(out.status.success(), "{}", text(&out));
    let e: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("wide/explain.json")).unwrap()).unwrap();
    assert_eq!(e["class"], 2);
    let methods: Vec<&str> = e["maps"].as_array().unwrap().iter().map(|m| m["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["agreement", "attention", "gradcam", "occlusion"]);
    for f in ["agreement.png", "attention.png", "gradcam.png", "occlusion.png", "curves.png"] {
        assert!(std::fs::read(out_dir.join("wide").join(f)).unwrap().starts_with(b"\x89PNG"), "{f}");
    }
    // a class the model does not have: one clear line
    let out = gattanet(&["explain", images[0].to_str().unwrap(), "--model", m, "--out", o, "--class", "zebra"]);
    assert!(!out.status.success() && text(&out).contains("no class `zebra`"), "{}", text(&out));

    // faithfulness over a small image-folder test split
    let data = tmp.path().join("data");
    for (i, class) in ["class0", "class1", "class3"].iter().enumerate() {
        std::fs::create_dir_all(data.join("test").join(class)).unwrap();
        picture(20 + 7 * i as u32, 20).save(data.join("test").join(class).join("x.png")).unwrap();
    }
    let json = tmp.path().join("faith.json");
    let out = gattanet(&[
        "faithfulness",
        "--model",
        m,
        "--data",
        data.to_str().unwrap(),
        "--n",
        "3",
        "--steps",
        "4",
        "--grid",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["images"], 3);
    let methods: Vec<&str> = r["methods"].as_array().unwrap().iter().map(|m| m["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["agreement", "attention", "gradcam", "occlusion", "random", "centre"]);
    for m in r["methods"].as_array().unwrap() {
        for k in ["deletion", "insertion"] {
            let v = m[k]["mean"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v) && m[k]["sd"].as_f64().unwrap() >= 0.0, "{m}");
        }
    }
    assert!(std::fs::read(json.with_extension("png")).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn images_of_the_same_name_get_their_own_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path(), &common::small_configs().remove(1));
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    picture(40, 40).save(a.join("cat.png")).unwrap();
    image::RgbImage::from_pixel(40, 40, image::Rgb([200, 10, 10])).save(b.join("cat.png")).unwrap();
    let out_dir = tmp.path().join("out");
    let (pa, pb) = (a.join("cat.png"), b.join("cat.png"));
    let out = gattanet(&[
        "inspect",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let first = std::fs::read_to_string(out_dir.join("cat/inspection.json")).unwrap();
    let second = std::fs::read_to_string(out_dir.join("cat-2/inspection.json")).unwrap();
    assert_ne!(first, second, "two different images gave the same inspection");
    assert!(text(&out).contains("cat-2"), "{}", text(&out));
}

/// `gattanet bench` on the CPU and on the WebGPU engine (lavapipe here), at an input size of our
/// choosing: the size changes the work measured, the GPU table reports shares of a given peak,
/// and the engine's parity with candle in the same run is printed (and small).
#[test]
fn bench_runs_at_a_chosen_input_size_on_cpu_and_gpu() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = common::small_configs().into_iter().find(|c| c.name == "patchconv").unwrap();
    if let gattanet::model::BackboneConfig::Patchconv { dim, .. } = &mut cfg.backbone {
        *dim = 48; // enough work per image for the table's 0.1-MFLOP resolution
    }
    let path = tmp.path().join("patchconv.json");
    std::fs::write(&path, cfg.to_json()).unwrap();
    let path = path.to_str().unwrap();
    let mflop_per_image = |size: &str| {
        let out = gattanet(&["bench", "--config", path, "--batch", "1", "--rounds", "1", "--input-size", size]);
        assert!(out.status.success(), "{}", text(&out));
        let out = text(&out);
        let row = out.lines().find(|l| l.starts_with("patchconv ")).unwrap_or_else(|| panic!("no row: {out}"));
        row.split_whitespace().nth(2).unwrap().parse::<f64>().unwrap()
    };
    let (small, large) = (mflop_per_image("32"), mflop_per_image("64"));
    // Every layer but the class-attention head scales with the pixel count.
    assert!(large > 3.0 * small && large < 4.5 * small, "32×32: {small} MFLOP, 64×64: {large} MFLOP");

    let out = gattanet(&["bench", "--backend", "gpu", "--config", path, "--rounds", "1", "--input-size", "32", "--peak-gflops", "50"]);
    let out_text = text(&out);
    assert!(out.status.success(), "{out_text}");
    for want in ["patchconv at 32×32", "of peak", "conv kernels", "logits max rel diff", "GPU memory", "peak resident memory"] {
        assert!(out_text.contains(want), "no `{want}` in {out_text}");
    }
    let diff: f64 = out_text.rsplit("logits max rel diff ").next().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(diff < 1e-3, "GPU vs CPU logits differ by {diff}");
    // The weights are on the GPU once, as f32: the MB printed matches the parameter count.
    let mb = |after: &str| -> f64 { out_text.split(after).nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap() };
    let (_, varmap) = gattanet::model::io::init(&cfg, &candle_core::Device::Cpu).unwrap();
    let params = gattanet::train::run::parameter_count(&varmap) as f64;
    let weights_mb = mb("weights ");
    assert!(weights_mb * 1e6 >= 4.0 * params * 0.95 && weights_mb * 1e6 <= 4.0 * params * 1.3, "{weights_mb} MB for {params} parameters");

    let out = gattanet(&["bench", "--config", path, "--input-size", "0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("at 0×0"), "{}", text(&out));
}

/// `gattanet bench --kernels`: our GELU next to candle's, a row per input spread and op, each
/// with two positive times and their ratio.
#[test]
fn bench_kernels_prints_gelu_against_candle() {
    let out = gattanet(&["bench", "--kernels", "--rounds", "3"]);
    let out_text = text(&out);
    assert!(out.status.success(), "{out_text}");
    let rows: Vec<Vec<&str>> = out_text.lines().filter(|l| l.starts_with("σ ")).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 4, "{out_text}");
    for row in rows {
        let n = row.len();
        let (ours, theirs): (f64, f64) = (row[n - 3].parse().unwrap(), row[n - 2].parse().unwrap());
        let ratio: f64 = row[n - 1].trim_end_matches('x').parse().unwrap();
        assert!(ours > 0.0 && theirs > 0.0, "{row:?}");
        assert!((ratio - theirs / ours).abs() <= 0.02 * ratio + 0.01, "{row:?}");
    }
}

//! The trainer: data loaders on generated fixtures (image folders, CIFAR binary, IDX), their
//! errors, augmentation, the optimisers, schedules, the smoothed loss, a tiny model learning,
//! exact resumption, and `gattanet train` / `eval` / `inspect` end to end.
mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor, Var};
use gattanet::model::{AttentionConfig, BackboneConfig, HeadConfig, ModelConfig};
use gattanet::preprocess::InputSpec;
use gattanet::train::augment::{self, derived_rng, hflip, make_batch, shift, Augment, Transform};
use gattanet::train::data::{self, Dataset, Format, LoadOptions, Split};
use gattanet::train::optim::{self, clip_grad_norm, decays, is_bn_stat, learning_rate, Optimizer, OptimizerKind, ScheduleKind};
use gattanet::train::run::{self, Job, TrainOptions};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn spec(size: usize, channels: usize) -> InputSpec {
    InputSpec { size: [size, size], channels, mean: vec![0.5; channels], std: vec![0.25; channels] }
}

fn opts(size: usize, channels: usize) -> LoadOptions {
    LoadOptions { input: spec(size, channels), classes: None, limit: None, threads: 2 }
}

/// A deterministic 8x8 RGB picture, different for every (class, index).
fn picture(class: usize, i: usize) -> image::RgbImage {
    let (class, i) = (class as u32, i as u32);
    image::RgbImage::from_fn(8, 8, |x, y| {
        image::Rgb([(x * 30 + class * 7) as u8, (y * 30 + i * 3) as u8, ((x * y + class * 50 + i) % 256) as u8])
    })
}

const FOLDER_CLASSES: [&str; 3] = ["bird", "cat", "dog"];

/// root/{train,test}/{bird,cat,dog}/NN.png: 8 train and 2 test images per class (+ one JPEG).
fn image_folders(root: &Path) {
    for (split, n) in [("train", 8), ("test", 2)] {
        for (c, name) in FOLDER_CLASSES.iter().enumerate() {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                picture(c, i).save(dir.join(format!("{i:02}.png"))).unwrap();
            }
            std::fs::write(dir.join("notes.txt"), "not an image, ignored").unwrap();
        }
    }
    picture(1, 99).save(root.join("train/cat/99.jpg")).unwrap();
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap();
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Image i of an IDX fixture: 8x8 gray.
fn idx_pixels(i: usize) -> Vec<u8> {
    (0..64).map(|p| ((p * 4 + i * 11) % 256) as u8).collect()
}

fn idx_files(root: &Path, n: usize, labels: usize, gz: bool) {
    std::fs::create_dir_all(root).unwrap();
    let images: Vec<u8> = (0..n).flat_map(idx_pixels).collect();
    let label_bytes: Vec<u8> = (0..labels).map(|i| (i % 3) as u8).collect();
    // train: n images and `labels` labels; t10k: 2 and 2.
    for (prefix, k, l) in [("train", n, labels), ("t10k", 2, 2)] {
        let img = idx(&[k as u32, 8, 8], &images[..k * 64]);
        let lab = idx(&[l as u32], &label_bytes[..l]);
        if gz {
            write_gz(&root.join(format!("{prefix}-images-idx3-ubyte.gz")), &img);
            write_gz(&root.join(format!("{prefix}-labels-idx1-ubyte.gz")), &lab);
        } else {
            std::fs::write(root.join(format!("{prefix}-images-idx3-ubyte")), &img).unwrap();
            std::fs::write(root.join(format!("{prefix}-labels-idx1-ubyte")), &lab).unwrap();
        }
    }
}

/// A CIFAR record: label byte(s) then the R, G and B planes of 32x32.
fn cifar_record(labels: &[u8], i: usize) -> Vec<u8> {
    let mut r = labels.to_vec();
    r.extend((0..3072).map(|p| ((p * 7 + i * 13) % 256) as u8));
    r
}

// ---------------------------------------------------------------------------------------------
// Loaders

#[test]
fn image_folder_loader_counts_labels_and_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    assert_eq!(data::detect(tmp.path()).unwrap().0, Format::ImageFolder);

    let train = data::load(tmp.path(), Split::Train, &opts(8, 3)).unwrap();
    assert_eq!(train.len(), 25);
    assert_eq!(train.classes, FOLDER_CLASSES);
    assert_eq!(train.class_counts(), vec![8, 9, 8]);
    assert!(train.skipped.is_empty());
    // Round-robin order: bird/00, cat/00, dog/00, bird/01, ...
    assert_eq!(&train.labels[..6], &[0, 1, 2, 0, 1, 2]);
    // dog/01.png is image 5; CHW, exact.
    let img = train.image(5);
    let want = picture(2, 1);
    for (x, y) in [(0, 0), (3, 5), (7, 7)] {
        for c in 0..3 {
            assert_eq!(img[c * 64 + y * 8 + x], want.get_pixel(x as u32, y as u32)[c], "pixel ({x},{y}) channel {c}");
        }
    }
    let test = data::load(tmp.path(), Split::Test, &opts(8, 3)).unwrap();
    assert_eq!((test.len(), test.class_counts()), (6, vec![2, 2, 2]));

    // The model's class order decides the labels.
    let mut o = opts(8, 3);
    o.classes = Some(vec!["dog".into(), "cat".into(), "bird".into(), "fish".into()]);
    let ds = data::load(tmp.path(), Split::Test, &o).unwrap();
    assert_eq!(ds.classes.len(), 4);
    assert_eq!(ds.class_counts(), vec![2, 2, 2, 0]);
    assert_eq!(ds.image(ds.labels.iter().position(|&l| l == 0).unwrap()), {
        let d = data::load(tmp.path(), Split::Test, &opts(8, 3)).unwrap();
        d.image(d.labels.iter().position(|&l| l == 2).unwrap()).to_vec()
    });

    // --limit keeps the classes balanced.
    let mut o = opts(8, 3);
    o.limit = Some(7);
    assert_eq!(data::load(tmp.path(), Split::Train, &o).unwrap().class_counts(), vec![3, 2, 2]);
}

#[test]
fn image_folder_resizes_and_converts_like_preprocess() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    // A 16x16 grayscale model: the loader must give exactly what `preprocess` gives `inspect`.
    let s = spec(16, 1);
    let ds = data::load(tmp.path(), Split::Test, &LoadOptions { input: s.clone(), classes: None, limit: None, threads: 1 }).unwrap();
    assert_eq!((ds.channels, ds.height, ds.width), (1, 16, 16));
    let bytes = std::fs::read(tmp.path().join("test/bird/00.png")).unwrap();
    let prepared = gattanet::preprocess::preprocess(&bytes, &s).unwrap();
    let want: Vec<u8> = prepared.view.pixels().map(|p| p[0]).collect();
    assert_eq!(ds.image(0), want.as_slice());
    // And the normalised batch equals preprocess's input.
    let batch = make_batch(&ds, &[0], &s, Transform::<rand::rngs::StdRng>::None);
    for (a, b) in batch.x.iter().zip(&prepared.input) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn image_folder_skips_and_counts_unreadable_files() {
    let tmp = tempfile::tempdir().unwrap();
    image_folders(tmp.path());
    std::fs::write(tmp.path().join("train/dog/broken.png"), b"\x89PNG\r\n\x1a\n not really").unwrap();
    std::fs::write(tmp.path().join("train/bird/empty.jpg"), b"").unwrap();
    let ds = data::load(tmp.path(), Split::Train, &opts(8, 3)).unwrap();
    assert_eq!(ds.len(), 25);
    assert_eq!(ds.skipped.len(), 2);
    assert!(ds.skipped.iter().any(|(p, _)| p.ends_with("dog/broken.png")));
    assert!(ds.summary().contains("skipped 2 unreadable"), "{}", ds.summary());
    // The images after a skipped one keep their labels.
    assert_eq!(ds.class_counts(), vec![8, 9, 8]);
}

#[test]
fn loader_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let e = data::load(&missing, Split::Train, &opts(8, 3)).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = data::load(&empty, Split::Train, &opts(8, 3)).unwrap_err().to_string();
    assert!(e.contains("no data set found"), "{e}");

    // A train split without a test split.
    let only_train = tmp.path().join("only-train");
    std::fs::create_dir_all(only_train.join("train/a")).unwrap();
    picture(0, 0).save(only_train.join("train/a/0.png")).unwrap();
    let e = data::load(&only_train, Split::Test, &opts(8, 3)).unwrap_err().to_string();
    assert!(e.contains("no `test` folder"), "{e}");

    // A folder that is not one of the model's classes.
    let mut o = opts(8, 3);
    o.classes = Some(vec!["x".into(), "y".into()]);
    let e = data::load(&only_train, Split::Train, &o).unwrap_err().to_string();
    assert!(e.contains("not one of the model's classes"), "{e}");

    // A truncated CIFAR file.
    let cifar = tmp.path().join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    std::fs::write(cifar.join("test_batch.bin"), vec![0u8; 3073 * 2 + 5]).unwrap();
    let e = data::load(&cifar, Split::Test, &opts(32, 3)).unwrap_err().to_string();
    assert!(e.contains("not a multiple of the record size"), "{e}");
    let e = data::load(&cifar, Split::Train, &opts(32, 3)).unwrap_err().to_string();
    assert!(e.contains("data_batch_1.bin"), "{e}");
}

#[test]
fn cifar10_binary_loader() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-bin"); // found one level down
    std::fs::create_dir_all(&dir).unwrap();
    let batch =
        |labels: &[u8], first: usize| -> Vec<u8> { labels.iter().enumerate().flat_map(|(i, &l)| cifar_record(&[l], first + i)).collect() };
    std::fs::write(dir.join("data_batch_1.bin"), batch(&[3, 1, 4], 0)).unwrap();
    std::fs::write(dir.join("data_batch_2.bin"), batch(&[1, 5], 3)).unwrap();
    std::fs::write(dir.join("test_batch.bin"), batch(&[9, 2], 100)).unwrap();
    assert_eq!(data::detect(tmp.path()).unwrap(), (Format::Cifar10, dir.clone()));

    let train = data::load(tmp.path(), Split::Train, &opts(32, 3)).unwrap();
    assert_eq!(train.labels, vec![3, 1, 4, 1, 5]);
    assert_eq!(train.classes[3], "cat");
    // Image 3 (first of batch 2): the record's planes exactly.
    assert_eq!(train.image(3), &cifar_record(&[0], 3)[1..]);
    let test = data::load(tmp.path(), Split::Test, &opts(32, 3)).unwrap();
    assert_eq!(test.labels, vec![9, 2]);
    assert_eq!(test.image(1), &cifar_record(&[0], 101)[1..]);

    // A model with the wrong number of classes is refused.
    let mut o = opts(32, 3);
    o.classes = Some(common::classes(4));
    let e = data::load(tmp.path(), Split::Test, &o).unwrap_err().to_string();
    assert!(e.contains("10 classes but the model has 4"), "{e}");
}

#[test]
fn cifar100_binary_loader_uses_fine_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = |coarse: u8, fine: u8, i| cifar_record(&[coarse, fine], i);
    let train: Vec<u8> = [rec(1, 42, 0), rec(19, 99, 1), rec(0, 7, 2)].concat();
    std::fs::write(tmp.path().join("train.bin"), train).unwrap();
    std::fs::write(tmp.path().join("test.bin"), rec(5, 3, 9)).unwrap();
    let ds = data::load(tmp.path(), Split::Train, &opts(32, 3)).unwrap();
    assert_eq!(ds.format, Format::Cifar100);
    assert_eq!(ds.labels, vec![42, 99, 7]);
    assert_eq!(ds.classes.len(), 100);
    assert_eq!(ds.image(2), &rec(0, 0, 2)[2..]);
    assert_eq!(data::load(tmp.path(), Split::Test, &opts(32, 3)).unwrap().labels, vec![3]);
}

#[test]
fn idx_loader_gz_and_plain() {
    for gz in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        idx_files(tmp.path(), 6, 6, gz);
        assert_eq!(data::detect(tmp.path()).unwrap().0, Format::Idx);
        // Gray data, RGB model: the channels are replicated.
        let ds = data::load(tmp.path(), Split::Train, &opts(8, 3)).unwrap();
        assert_eq!(ds.len(), 6);
        assert_eq!(ds.labels, vec![0, 1, 2, 0, 1, 2]);
        let want = idx_pixels(4);
        let img = ds.image(4);
        for c in 0..3 {
            assert_eq!(&img[c * 64..(c + 1) * 64], want.as_slice(), "gz {gz}, channel {c}");
        }
        let gray = data::load(tmp.path(), Split::Train, &opts(8, 1)).unwrap();
        assert_eq!(gray.image(4), want.as_slice());
        let test = data::load(tmp.path(), Split::Test, &opts(8, 1)).unwrap();
        assert_eq!((test.len(), test.labels.clone()), (2, vec![0, 1]));
    }
}

#[test]
fn a_gzip_that_inflates_past_its_declared_size_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    idx_files(tmp.path(), 6, 6, true);
    // 64 MB of zeros (a 64 kB file) whose trailer claims 1 kB: the loader stops after 1 kB + 1.
    let bomb = tmp.path().join("t10k-images-idx3-ubyte.gz");
    write_gz(&bomb, &vec![0u8; 64 << 20]);
    let mut bytes = std::fs::read(&bomb).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&1024u32.to_le_bytes());
    std::fs::write(&bomb, &bytes).unwrap();
    let e = data::load(tmp.path(), Split::Test, &opts(8, 1)).unwrap_err().to_string();
    assert!(e.contains("does not inflate to the 1024 bytes its trailer declares"), "{e}");
    // A trailer beyond any data file's size is refused before inflating.
    bytes[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&bomb, &bytes).unwrap();
    let e = data::load(tmp.path(), Split::Test, &opts(8, 1)).unwrap_err().to_string();
    assert!(e.contains("4294967295 bytes once inflated"), "{e}");
}

#[test]
fn idx_label_count_mismatch_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    idx_files(tmp.path(), 6, 5, true);
    let e = data::load(tmp.path(), Split::Train, &opts(8, 1)).unwrap_err().to_string();
    assert!(e.contains("has 6 images but") && e.contains("has 5 labels"), "{e}");
    // A corrupt header.
    std::fs::write(tmp.path().join("t10k-images-idx3-ubyte"), [0u8, 0, 8, 3, 0, 0, 0, 9]).unwrap();
    std::fs::remove_file(tmp.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let e = data::load(tmp.path(), Split::Test, &opts(8, 1)).unwrap_err().to_string();
    assert!(e.contains("not a valid IDX file"), "{e}");
    // A zero dimension (here: colour images of width 0) and dimensions whose product overflows.
    for (dims, why) in [(vec![1u32, 0, 1, 3], "is 0"), (vec![u32::MAX, u32::MAX, u32::MAX], "too large")] {
        std::fs::write(tmp.path().join("t10k-images-idx3-ubyte"), idx(&dims, &[])).unwrap();
        let e = data::load(tmp.path(), Split::Test, &opts(8, 1)).unwrap_err().to_string();
        assert!(e.contains("not a valid IDX file") && e.contains(why), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Augmentation

fn synthetic(n: usize, classes: usize, size: usize, seed: u64) -> Dataset {
    // Class k: a bright square in a class-specific place over dim noise. Linearly separable.
    let mut rng = derived_rng(seed, "synthetic", 0);
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let k = i % classes;
        let (cy, cx) = ((k / 2) * size / 2, (k % 2) * size / 2);
        for _c in 0..3 {
            for y in 0..size {
                for x in 0..size {
                    let on = (cy..cy + size / 2).contains(&y) && (cx..cx + size / 2).contains(&x);
                    let noise: u8 = rand::Rng::random_range(&mut rng, 0..60);
                    pixels.push(if on { 190 + noise } else { noise });
                }
            }
        }
        labels.push(k as u32);
    }
    Dataset {
        pixels,
        labels,
        channels: 3,
        height: size,
        width: size,
        classes: common::classes(classes),
        format: Format::ImageFolder,
        skipped: Vec::new(),
    }
}

#[test]
fn augmentation_is_seeded() {
    let ds = synthetic(12, 4, 16, 1);
    let s = common::input(16);
    let aug = Augment { cutout: 6, ..Augment::STANDARD };
    let idx: Vec<usize> = (0..12).collect();
    let batch = |seed| make_batch(&ds, &idx, &s, Transform::Augment(&aug, &mut derived_rng(seed, "epoch", 0)));
    assert_eq!(batch(7), batch(7));
    assert_ne!(batch(7), batch(8));
    assert_eq!(batch(7).shape, (12, 3, 16, 16));
    // Without augmentation, the batch is the normalised images.
    let plain = make_batch(&ds, &[3], &s, Transform::<rand::rngs::StdRng>::None);
    let p = ds.image(3)[16 * 16 + 5]; // channel 1
    assert!((plain.x[16 * 16 + 5] - (p as f32 / 255.0 - s.mean[1]) / s.std[1]).abs() < 1e-6);
    // Noise: seeded too, and σ = 0 changes nothing.
    let noisy = |sigma, seed| make_batch(&ds, &[3], &s, Transform::Noise(sigma, &mut derived_rng(seed, "noise", 0))).x;
    assert_eq!(noisy(0.1, 1), noisy(0.1, 1));
    assert_ne!(noisy(0.1, 1), plain.x);
    assert_eq!(noisy(0.0, 1), plain.x);
}

#[test]
fn flip_mirrors_and_crop_shifts() {
    // 2 channels, 3 rows, 4 columns.
    let src: Vec<u8> = (1..=24).collect();
    let mut f = src.clone();
    hflip(&mut f, 4);
    assert_eq!(&f[..8], &[4, 3, 2, 1, 8, 7, 6, 5]);
    assert_eq!(&f[20..], &[24, 23, 22, 21]);

    let mut out = vec![0u8; 24];
    shift(&src, 2, 3, 4, 1, -2, &mut out);
    // out(y, x) = src(y + 1, x − 2), zero outside: same size, content moved up and right.
    assert_eq!(out.len(), src.len());
    assert_eq!(&out[..12], &[0, 0, 5, 6, 0, 0, 9, 10, 0, 0, 0, 0]);
    assert_eq!(&out[12..16], &[0, 0, 17, 18]);
    let mut same = vec![0u8; 24];
    shift(&src, 2, 3, 4, 0, 0, &mut same);
    assert_eq!(same, src);

    // augment_image with flip only: either unchanged or mirrored, and both happen.
    let aug = Augment { pad: 0, flip: true, cutout: 0 };
    let mut rng = derived_rng(0, "t", 0);
    let (mut flipped, mut kept) = (0, 0);
    for _ in 0..40 {
        augment::augment_image(&src, 2, 3, 4, &aug, &mut rng, &mut out);
        if out == f {
            flipped += 1;
        } else {
            assert_eq!(out, src);
            kept += 1;
        }
    }
    assert!(flipped > 5 && kept > 5, "{flipped} flipped, {kept} kept");
    // Crop with padding: size kept, every shift within ±pad happens.
    let aug = Augment { pad: 1, flip: false, cutout: 0 };
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        augment::augment_image(&src, 2, 3, 4, &aug, &mut rng, &mut out);
        seen.insert(out.clone());
    }
    assert_eq!(seen.len(), 9);
}

// ---------------------------------------------------------------------------------------------
// Optimisers, schedule, loss

fn vars(values: &[(&str, f32)]) -> HashMap<String, Var> {
    values.iter().map(|(n, v)| (n.to_string(), Var::from_tensor(&Tensor::new(&[*v], &Device::Cpu).unwrap()).unwrap())).collect()
}

fn value(v: &HashMap<String, Var>, name: &str) -> f32 {
    v[name].as_tensor().to_vec1::<f32>().unwrap()[0]
}

#[test]
fn sgd_nesterov_matches_the_formula() {
    let v = vars(&[("fc.weight", 2.0), ("fc.bias", -1.0), ("bn.stats0.mean", 0.0)]);
    let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.1, &v);
    assert_eq!(opt.params.len(), 2, "BatchNorm statistics are not optimised");
    // loss = (w·x + b)², x = 3 → dw = 2(wx+b)x = 30, db = 2(wx+b) = 10 at w = 2, b = −1.
    let (w, b) = (v["fc.weight"].as_tensor(), v["fc.bias"].as_tensor());
    let loss = (w.affine(3.0, 0.0).unwrap() + b).unwrap().sqr().unwrap().sum_all().unwrap();
    let g = opt.gradients(&loss.backward().unwrap()).unwrap();
    assert_eq!(g, vec![Some(vec![10.0]), Some(vec![30.0])]); // sorted by name: bias, weight
    opt.step(&g, 0.01).unwrap();
    // weight: g = 30 + 0.1·2 = 30.2, buf = 30.2, w −= 0.01·(30.2 + 0.9·30.2)
    assert!((value(&v, "fc.weight") - (2.0 - 0.01 * (30.2 + 0.9 * 30.2))).abs() < 1e-6);
    // bias: no decay. g = 10, buf = 10, b −= 0.01·19
    assert!((value(&v, "fc.bias") - (-1.0 - 0.19)).abs() < 1e-6);
    // Second step with the same gradients: buf = 0.9·buf + g.
    let w1 = value(&v, "fc.weight");
    opt.step(&g, 0.02).unwrap();
    let gw = 30.0 + 0.1 * w1;
    let buf = 0.9 * 30.2 + gw;
    assert!((value(&v, "fc.weight") - (w1 - 0.02 * (gw + 0.9 * buf))).abs() < 1e-5);
    assert!((value(&v, "fc.bias") - (-1.19 - 0.02 * (10.0 + 0.9 * 19.0))).abs() < 1e-5);
}

#[test]
fn adamw_matches_the_formula() {
    let v = vars(&[("a.weight", 1.0), ("a.alpha", 0.5)]);
    let mut opt = Optimizer::new(OptimizerKind::Adamw, 0.01, &v);
    let g = vec![Some(vec![0.2]), Some(vec![-0.4])]; // alpha, weight
    opt.step(&g, 0.1).unwrap();
    // First step: m̂ = g, v̂ = g², update = lr·g/(|g| + ε) = ±lr.
    assert!((value(&v, "a.alpha") - (0.5 - 0.1 * 0.2 / (0.2 + 1e-8))).abs() < 1e-6);
    assert!((value(&v, "a.weight") - (1.0 * (1.0 - 0.1 * 0.01) + 0.1 * 0.4 / (0.4 + 1e-8))).abs() < 1e-6);
}

#[test]
fn weight_decay_only_on_conv_linear_weights_keys_and_queries() {
    for name in [
        "backbone.conv1.conv.weight",
        "head.fc1.weight",
        "gatta.conv2.key",
        "gatta.logits.query",
        "backbone.blocks.0.dwconv.weight",
        "head.q.weight",
        "backbone.stem.0.weight",
    ] {
        assert!(decays(name), "{name}");
    }
    for name in [
        "backbone.conv1.bn.weight",
        "backbone.conv1.bn.bias",
        "backbone.blocks.0.norm.weight",
        "head.norm1.weight",
        "head.norm.weight",
        "head.fc.bias",
        "gatta.conv1.alpha",
        "backbone.blocks.0.gamma",
        "head.gamma1",
        "head.cls_token",
    ] {
        assert!(!decays(name), "{name}");
    }
    assert!(is_bn_stat("backbone.stage1.block1.conv1.bn.stats1.var"));
    assert!(!is_bn_stat("backbone.conv1.bn.weight") && !is_bn_stat("head.stats.mean"));
    // On every real model: statistics excluded; decay exactly where named.
    for cfg in common::small_configs() {
        let (_, varmap) = gattanet::model::io::init(&cfg, &Device::Cpu).unwrap();
        let all = varmap.data().lock().unwrap().clone();
        let opt = Optimizer::new(OptimizerKind::Sgd, 5e-4, &all);
        let stats = all.keys().filter(|n| n.contains(".stats")).count();
        assert!(stats > 0 || cfg.name == "patchconv");
        assert_eq!(opt.params.len(), all.len() - stats, "{}", cfg.name);
        for p in &opt.params {
            let expect = (p.name.ends_with(".weight") && !p.name.contains("bn.") && !p.name.contains("norm"))
                || p.name.ends_with(".key")
                || p.name.ends_with(".query");
            assert_eq!(p.decay, expect, "{}", p.name);
        }
    }
}

#[test]
fn gradient_clipping() {
    let mut g = vec![Some(vec![3.0, 0.0]), None, Some(vec![4.0])];
    assert!((clip_grad_norm(&mut g, 10.0) - 5.0).abs() < 1e-9);
    assert_eq!(g[0], Some(vec![3.0, 0.0]));
    clip_grad_norm(&mut g, 1.0);
    assert!((g[0].as_ref().unwrap()[0] - 0.6).abs() < 1e-5 && (g[2].as_ref().unwrap()[0] - 0.8).abs() < 1e-5);
}

#[test]
fn schedules_start_peak_end() {
    let total = 1000;
    let lr = |k, s| learning_rate(k, 0.05, 0.15, s, total);
    // One-cycle: peak/25 → peak at step 150 → peak/1e4 at the last step.
    assert!((lr(ScheduleKind::Onecycle, 0) - 0.002).abs() < 1e-12);
    assert!((lr(ScheduleKind::Onecycle, 150) - 0.05).abs() < 1e-12);
    assert!((lr(ScheduleKind::Onecycle, 999) - 5e-6).abs() < 1e-12);
    // Halfway through the decay: the mean of peak and end.
    let mid = 150 + (999 - 150) / 2;
    let t = (mid - 150) as f64 / 849.0;
    let want = 5e-6 + (0.05 - 5e-6) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
    assert!((lr(ScheduleKind::Onecycle, mid) - want).abs() < 1e-12);
    // Cosine: linear warm-up, peak, 0 at the end.
    assert!((lr(ScheduleKind::Cosine, 0) - 0.05 / 151.0).abs() < 1e-12);
    assert!((lr(ScheduleKind::Cosine, 150) - 0.05).abs() < 1e-12);
    assert!(lr(ScheduleKind::Cosine, 999).abs() < 1e-12);
    for k in [ScheduleKind::Onecycle, ScheduleKind::Cosine] {
        for s in 1..total {
            let (a, b) = (lr(k, s - 1), lr(k, s));
            assert!(if s <= 150 { b >= a } else { b <= a }, "{k:?} step {s}");
        }
    }
    // No warm-up: the peak at once.
    assert_eq!(learning_rate(ScheduleKind::Cosine, 0.1, 0.0, 0, 10), 0.1);
}

#[test]
fn smoothed_cross_entropy_equals_the_formula() {
    let logits = Var::from_tensor(&Tensor::new(&[[1.0f32, 2.0, 3.0], [0.5, -1.0, 0.0]], &Device::Cpu).unwrap()).unwrap();
    let labels = [0u32, 2];
    let eps = 0.1;
    let loss = optim::smoothed_cross_entropy(logits.as_tensor(), &labels, eps).unwrap();
    let rows = [[1.0f64, 2.0, 3.0], [0.5, -1.0, 0.0]];
    let mut want = 0.0;
    let mut want_grad = Vec::new();
    for (r, &y) in rows.iter().zip(&labels) {
        let lse = r.iter().map(|v| v.exp()).sum::<f64>().ln();
        for (k, v) in r.iter().enumerate() {
            let target = eps / 3.0 + if k == y as usize { 1.0 - eps } else { 0.0 };
            want -= target * (v - lse) / 2.0;
            want_grad.push(((v - lse).exp() - target) / 2.0);
        }
    }
    let got = f64::from(loss.to_scalar::<f32>().unwrap());
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    // And it is differentiable: the gradient is (softmax − target)/B.
    let g = loss.backward().unwrap();
    let g: Vec<f32> = g.get(logits.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    for (a, b) in g.iter().zip(&want_grad) {
        assert!((f64::from(*a) - b).abs() < 1e-6);
    }
    // Labels must match the batch and the classes.
    assert!(optim::smoothed_cross_entropy(logits.as_tensor(), &[2], 0.0).is_err());
    assert!(optim::smoothed_cross_entropy(logits.as_tensor(), &[0, 3], 0.0).is_err());
}

#[test]
fn passes_loss_is_final_pass_plus_weighted_earlier_passes() {
    let t = |v: &[[f32; 3]; 2]| Tensor::new(v, &Device::Cpu).unwrap();
    let (first, last) = (t(&[[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]), t(&[[0.0, 1.0, -2.0], [2.0, 0.5, 0.25]]));
    let labels = [0u32, 2];
    let ce = |l: &Tensor| optim::smoothed_cross_entropy(l, &labels, 0.1).unwrap().to_scalar::<f32>().unwrap();
    let loss = |w: f64| optim::passes_loss(&[first.clone(), last.clone()], &labels, 0.1, w).unwrap().to_scalar::<f32>().unwrap();
    assert_ne!(ce(&first), ce(&last));
    assert!((loss(0.0) - ce(&last)).abs() < 1e-6, "aux weight 0: the final pass only");
    assert!((loss(0.3) - (ce(&last) + 0.3 * ce(&first))).abs() < 1e-6, "{} vs {}", loss(0.3), ce(&last) + 0.3 * ce(&first));
}

#[test]
fn tally_counts_per_pass_and_per_class_across_batches() {
    use gattanet::train::eval::Tally;
    // Two batches, two passes, three classes; correct predictions marked.
    let logits = |rows: &[[f32; 3]]| Tensor::new(rows.concat(), &Device::Cpu).unwrap().reshape((rows.len(), 3)).unwrap();
    let mut tally = Tally::new(3);
    // batch 1: labels 0, 1, 2. pass 0 predicts 0 ✓, 0 ✗, 2 ✓; pass 1 predicts 0 ✓, 1 ✓, 1 ✗.
    let p0 = logits(&[[3.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    let p1 = logits(&[[3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 2.0, 1.0]]);
    tally.add(&[p0, p1], &[0, 1, 2]).unwrap();
    // batch 2: labels 2, 2. pass 0 predicts 2 ✓, 0 ✗; pass 1 predicts 2 ✓, 2 ✓.
    let p0 = logits(&[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
    let p1 = logits(&[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]);
    tally.add(&[p0, p1], &[2, 2]).unwrap();
    let r = tally.result(&["a".into(), "b".into(), "c".into()]);
    assert_eq!(r.images, 5);
    assert_eq!(r.per_pass, vec![3.0 / 5.0, 4.0 / 5.0]);
    assert_eq!(r.accuracy, 4.0 / 5.0, "the final pass");
    // Per class, final pass: a 1/1, b 1/1, c 2/3.
    let per_class: Vec<(f64, usize)> = r.per_class.iter().map(|c| (c.accuracy, c.images)).collect();
    assert_eq!(per_class, vec![(1.0, 1), (1.0, 1), (2.0 / 3.0, 3)]);
}

#[test]
fn evaluate_counts_every_batch_and_noise_is_seeded() {
    use gattanet::train::eval::{forward, EVAL_BATCH};
    let tmp = tempfile::tempdir().unwrap();
    let train = synthetic(64, 4, 16, 1);
    run::train(&job(tmp.path(), TrainOptions { augment: false, ..small_options(6) }), &train, &synthetic(8, 4, 16, 2)).unwrap();
    let model = gattanet::model::io::load_dir(tmp.path(), &Device::Cpu).unwrap();
    // More images than one evaluation batch: the result counts them all, image by image.
    let test = synthetic(EVAL_BATCH + 50, 4, 16, 3);
    let r = gattanet::train::evaluate(&model, &test, 2, None, None, EVAL_BATCH).unwrap();
    assert_eq!(r.images, EVAL_BATCH + 50);
    let mut correct = 0;
    for i in (0..test.len()).step_by(30) {
        let idx: Vec<usize> = (i..(i + 30).min(test.len())).collect();
        let batch = make_batch(&test, &idx, &model.config.input, Transform::<rand::rngs::StdRng>::None);
        let last = forward(&model, &batch, 2, false).unwrap().pop().unwrap();
        let pred = gattanet::train::eval::argmax(&last).unwrap();
        correct += pred.iter().zip(&batch.y).filter(|(a, b)| a == b).count();
    }
    assert_eq!(r.accuracy, correct as f64 / test.len() as f64);
    assert!(r.accuracy >= 0.9, "{}", r.accuracy);
    // Smaller batches (`eval --batch`) give the same result, noise included.
    let small = gattanet::train::evaluate(&model, &test, 2, None, Some((0.3, 7)), 7).unwrap();
    assert_eq!(small, gattanet::train::evaluate(&model, &test, 2, None, Some((0.3, 7)), EVAL_BATCH).unwrap());
    // Noise: the same seed gives the same result; strong noise destroys the signal.
    let noisy =
        |sigma: f32, seed: u64| gattanet::train::evaluate(&model, &test, 2, None, Some((sigma, seed)), EVAL_BATCH).unwrap().accuracy;
    assert_eq!(noisy(0.3, 7), noisy(0.3, 7));
    let strong = noisy(5.0, 7);
    assert!(strong < 0.6, "σ = 5 still gives {strong}");
}

// ---------------------------------------------------------------------------------------------
// Training

fn toy_config() -> ModelConfig {
    ModelConfig {
        name: "tiny".into(),
        classes: common::classes(4),
        input: common::input(16),
        backbone: BackboneConfig::Toy { channels: [4, 6, 8] },
        head: HeadConfig::Mlp { hidden: 10 },
        attention: Some(AttentionConfig { dim: 4, passes: 2, aux_loss_weight: 0.3, ..Default::default() }),
    }
}

fn job(out: &Path, options: TrainOptions) -> Job {
    Job {
        config: toy_config(),
        options,
        out: out.to_path_buf(),
        resume: false,
        stop_after: None,
        dtype: None,
        command_line: "test".into(),
        data: "synthetic".into(),
        log: false,
        progress: false,
    }
}

fn small_options(epochs: usize) -> TrainOptions {
    TrainOptions { epochs, batch: 16, lr: 0.05, warmup: 0.2, seed: 3, ..Default::default() }
}

#[test]
fn seeded_init_is_reproducible() {
    let cfg = toy_config();
    let a = gattanet::model::io::varmap_tensors(&gattanet::train::init_seeded(&cfg, 5, &Device::Cpu).unwrap().1);
    let b = gattanet::model::io::varmap_tensors(&gattanet::train::init_seeded(&cfg, 5, &Device::Cpu).unwrap().1);
    let c = gattanet::model::io::varmap_tensors(&gattanet::train::init_seeded(&cfg, 6, &Device::Cpu).unwrap().1);
    let flat = |m: &HashMap<String, Tensor>, n: &str| m[n].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    for n in a.keys() {
        assert_eq!(flat(&a, n), flat(&b, n), "{n}");
    }
    let w = "backbone.conv1.conv.weight";
    assert_ne!(flat(&a, w), flat(&c, w));
    // Kaiming normal with std √(2/27): the sample std is close.
    let v = flat(&a, w);
    let std = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    assert!((std - (2.0f32 / 27.0).sqrt()).abs() < 0.1, "{std}");
    assert_eq!(flat(&a, "backbone.conv1.bn.stats1.var"), vec![1.0; 4]);
}

#[test]
fn tiny_model_learns_a_separable_set() {
    let tmp = tempfile::tempdir().unwrap();
    let train = synthetic(64, 4, 16, 1);
    let test = synthetic(32, 4, 16, 2);
    let mut options = small_options(6);
    options.augment = false;
    let m = run::train(&job(tmp.path(), options), &train, &test).unwrap();
    assert_eq!(m.history.len(), 6);
    let (first, last) = (&m.history[0], m.history.last().unwrap());
    assert!(last.loss < 0.7 * first.loss, "loss {} → {}", first.loss, last.loss);
    assert!(m.test_accuracy >= 0.9, "test accuracy {}", m.test_accuracy);
    assert!(m.complete && m.epochs_done == 6);
    assert_eq!(m.test_per_pass.len(), 2);
    let check = m.bn_check.as_ref().unwrap();
    assert_eq!(check.train_mode_per_pass.len(), 2);
    // Model directory + metrics.
    let model = gattanet::model::io::load_dir(tmp.path(), &Device::Cpu).unwrap();
    assert_eq!(model.config, toy_config());
    assert_eq!(m.dtype, "f16"); // tiny: f16 keeps it under 5 MB
    let metrics: Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["test_accuracy"].as_f64().unwrap(), m.test_accuracy);
    let (_, varmap) = gattanet::model::io::init(&toy_config(), &Device::Cpu).unwrap();
    let stats: usize = varmap.data().lock().unwrap().iter().filter(|(n, _)| n.contains(".stats")).map(|(_, v)| v.elem_count()).sum();
    let all: usize = varmap.data().lock().unwrap().values().map(|v| v.elem_count()).sum();
    assert_eq!(metrics["parameters"].as_u64().unwrap() as usize, all - stats);
    assert_eq!(metrics["flops_per_image"].as_u64().unwrap(), 2 * (2 * model.macs_per_pass() + model.attention_macs_per_pass()));
    assert_eq!(metrics["per_class"].as_array().unwrap().len(), 4);
    // The stored model evaluates as reported.
    let again = gattanet::train::evaluate(&model, &test, 2, None, None, gattanet::train::eval::EVAL_BATCH).unwrap();
    assert_eq!(again.accuracy, m.test_accuracy);
}

fn checkpoint_tensors(dir: &Path) -> HashMap<String, Vec<f32>> {
    let t = candle_core::safetensors::load(dir.join("checkpoint/model.safetensors"), &Device::Cpu).unwrap();
    t.into_iter().map(|(k, v)| (k, v.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap())).collect()
}

#[test]
fn resume_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let train = synthetic(40, 4, 16, 1);
    let test = synthetic(12, 4, 16, 2);
    for optimizer in [OptimizerKind::Sgd, OptimizerKind::Adamw] {
        let options = TrainOptions { optimizer, cutout: 4, ..small_options(2) };
        let straight = tmp.path().join(format!("straight-{optimizer:?}"));
        let split = tmp.path().join(format!("split-{optimizer:?}"));
        let a = run::train(&job(&straight, options.clone()), &train, &test).unwrap();

        let mut first = job(&split, options.clone());
        first.stop_after = Some(1);
        let m1 = run::train(&first, &train, &test).unwrap();
        assert_eq!((m1.epochs_done, m1.complete), (1, false));
        // Without --resume an existing checkpoint is refused; with other options too.
        let e = run::train(&job(&split, options.clone()), &train, &test).unwrap_err().to_string();
        assert!(e.contains("--resume"), "{e}");
        let mut wrong = job(&split, TrainOptions { lr: 0.1, ..options.clone() });
        wrong.resume = true;
        let e = run::train(&wrong, &train, &test).unwrap_err().to_string();
        assert!(e.contains("options differ"), "{e}");

        let mut second = job(&split, options.clone());
        second.resume = true;
        let b = run::train(&second, &train, &test).unwrap();
        assert_eq!(b.epochs_done, 2);
        let (ta, tb) = (checkpoint_tensors(&straight), checkpoint_tensors(&split));
        assert_eq!(ta.len(), tb.len());
        for (name, v) in &ta {
            assert_eq!(v, &tb[name], "{optimizer:?}: {name} differs after resume");
        }
        // (The first epoch's record went through JSON in the checkpoint: equal to 1e-12.)
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * x.abs().max(1.0);
        assert_eq!(a.history.len(), b.history.len());
        for (x, y) in a.history.iter().zip(&b.history) {
            assert!(close(x.loss, y.loss) && x.train_accuracy == y.train_accuracy && x.test_accuracy == y.test_accuracy, "{x:?} vs {y:?}");
        }
        assert_eq!(a.test_accuracy, b.test_accuracy);
        // Resuming a finished run changes nothing.
        let c = run::train(&second, &train, &test).unwrap();
        assert_eq!(c.epochs_done, 2);
        assert!(c.history.iter().zip(&b.history).all(|(x, y)| close(x.loss, y.loss)));
        assert_eq!(checkpoint_tensors(&split), tb);
    }
}

#[test]
fn init_starts_from_trained_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let train = synthetic(64, 4, 16, 1);
    let test = synthetic(32, 4, 16, 2);
    let trained = tmp.path().join("trained");
    let a = run::train(&job(&trained, TrainOptions { augment: false, ..small_options(6) }), &train, &test).unwrap();
    assert!(a.test_accuracy >= 0.9, "{}", a.test_accuracy);

    // One epoch at a learning rate too small to move anything: from the trained weights (the
    // checkpoint's exact f32 ones) the run keeps them and their accuracy; from the seeded
    // initialisation it stays near chance.
    let still = TrainOptions { lr: 1e-12, augment: false, seed: 9, ..small_options(1) };
    let warm = TrainOptions { init: Some(trained.join("checkpoint")), ..still.clone() };
    let b = run::train(&job(&tmp.path().join("warm"), warm), &train, &test).unwrap();
    let cold = run::train(&job(&tmp.path().join("cold"), still), &train, &test).unwrap();
    assert!(cold.test_accuracy < 0.6, "{}", cold.test_accuracy);
    assert!((b.test_accuracy - a.test_accuracy).abs() <= 1.0 / 32.0, "{} vs {}", b.test_accuracy, a.test_accuracy);
    let (ta, tb) = (checkpoint_tensors(&trained), checkpoint_tensors(&tmp.path().join("warm")));
    for (name, v) in ta.iter().filter(|(n, _)| !n.contains(".stats")) {
        let diff = v.iter().zip(&tb[name]).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-6, "{name} moved by {diff}");
    }
    // The options (and so metrics.json) record where the run started.
    assert_eq!(b.options.init.as_deref(), Some(trained.join("checkpoint").as_path()));

    // Weights of another architecture are refused, naming a tensor and both shapes.
    let other = tmp.path().join("other");
    let mut wide = job(&other, TrainOptions { augment: false, ..small_options(1) });
    wide.config.backbone = BackboneConfig::Toy { channels: [5, 6, 8] };
    run::train(&wide, &train, &test).unwrap();
    let wrong = TrainOptions { init: Some(other.clone()), ..small_options(1) };
    let e = format!("{:#}", run::train(&job(&tmp.path().join("wrong"), wrong), &train, &test).unwrap_err());
    assert!(e.contains("--init") && e.contains("backbone.conv1") && e.contains("expected shape [4") && e.contains("found [5"), "{e}");
    let missing = TrainOptions { init: Some(tmp.path().join("nowhere")), ..small_options(1) };
    let e = format!("{:#}", run::train(&job(&tmp.path().join("missing"), missing), &train, &test).unwrap_err());
    assert!(e.contains("--init: cannot read") && e.contains("nowhere"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// CLI end to end

fn gattanet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gattanet")).args(args).output().expect("run gattanet")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_train_eval_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    image_folders(&data);
    let cfg = ModelConfig {
        name: "cli-toy".into(),
        classes: FOLDER_CLASSES.iter().map(|c| c.to_string()).collect(),
        input: common::input(16),
        backbone: BackboneConfig::Toy { channels: [4, 6, 8] },
        head: HeadConfig::Mlp { hidden: 10 },
        attention: Some(AttentionConfig { dim: 4, passes: 2, ..Default::default() }),
    };
    let cfg_path = tmp.path().join("cfg.json");
    std::fs::write(&cfg_path, cfg.to_json()).unwrap();
    let out_dir = tmp.path().join("model");
    let train = |extra: &[&str]| {
        let mut args =
            vec!["train", "--config", s(&cfg_path), "--data", s(&data), "--out", s(&out_dir), "--batch", "8", "--limit", "16", "--quiet"];
        args.extend_from_slice(extra);
        gattanet(&args)
    };
    let out = train(&["--epochs", "2", "--stop-after", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("epoch 1/2"), "{}", text(&out));
    for f in ["config.json", "model.safetensors", "metrics.json", "checkpoint/state.json"] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    // Again without --resume: refused. With --resume and a different --lr: refused.
    let again = train(&["--epochs", "2"]);
    assert!(!again.status.success() && text(&again).contains("--resume"), "{}", text(&again));
    let wrong = train(&["--resume", "--lr", "0.3"]);
    assert!(!wrong.status.success() && text(&wrong).contains("options differ"), "{}", text(&wrong));
    let resumed = gattanet(&["train", "--resume", "--data", s(&data), "--out", s(&out_dir), "--quiet"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(text(&resumed).contains("epoch 2/2"), "{}", text(&resumed));

    let metrics: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["complete"], Value::Bool(true));
    assert_eq!(metrics["history"].as_array().unwrap().len(), 2);
    assert_eq!(metrics["train_images"], 16);
    assert_eq!(metrics["seed"], 0);
    assert!(metrics["command_line"].as_str().unwrap().contains("--resume"));
    assert!(metrics["flops_per_image"].as_u64().unwrap() > 0);
    assert!(metrics["parameters"].as_u64().unwrap() > 0);
    assert!(metrics["history"][0]["images_per_second"].as_f64().unwrap() > 0.0);
    let acc = metrics["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));

    // inspect accepts the model.
    let img = data.join("test/cat/00.png");
    let insp = tmp.path().join("insp");
    let out = gattanet(&["inspect", s(&img), "--model", s(&out_dir), "--out", s(&insp)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(insp.join("00/inspection.json").is_file());

    // eval: accuracy, per class, noise; JSON + PNG.
    let json = tmp.path().join("eval/result.json");
    let out = gattanet(&["eval", "--model", s(&out_dir), "--data", s(&data), "--noise", "0,0.05,0.2", "--json", s(&json)]);
    assert!(out.status.success(), "{}", text(&out));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["accuracy"].as_f64().unwrap(), acc, "eval agrees with training's final evaluation");
    assert_eq!(r["per_class"].as_array().unwrap().len(), 3);
    let noise = r["noise"].as_array().unwrap();
    assert_eq!(noise.len(), 3);
    assert_eq!(noise[1]["sigma"].as_f64().unwrap() as f32, 0.05);
    assert_eq!(noise[0]["accuracy"].as_f64().unwrap(), acc);
    let png = std::fs::read(json.with_extension("png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    // plot-noise: runs of one model (same name) pool into one curve with mean ± sample sd;
    // another model is a second curve; a file that is not a report is named.
    let mut run2 = r.clone();
    run2["accuracy"] = serde_json::json!(0.5);
    run2["noise"][2]["accuracy"] = serde_json::json!(0.25);
    let run2_json = tmp.path().join("eval/run2.json");
    std::fs::write(&run2_json, run2.to_string()).unwrap();
    let mut other = r.clone();
    other["model"] = serde_json::json!("another");
    let other_json = tmp.path().join("eval/other.json");
    std::fs::write(&other_json, other.to_string()).unwrap();
    let both = tmp.path().join("eval/both.png");
    let out = gattanet(&["plot-noise", s(&json), s(&run2_json), s(&other_json), "--out", s(&both)]);
    assert!(out.status.success() && text(&out).contains("2 curves from 3 reports"), "{}", text(&out));
    let (w, h) = image::image_dimensions(&both).unwrap();
    assert!(w > 500 && h > 300, "{w}x{h}");
    let row = |model: &str| text(&out).lines().find(|l| l.starts_with(&format!("| {model} |"))).unwrap_or_default().to_string();
    let (a, n2) = (acc, noise[2]["accuracy"].as_f64().unwrap());
    // two runs: mean (x + y) / 2, sample sd |x - y| / √2
    let pooled = |x: f64, y: f64| format!("{:.4} ± {:.4}", (x + y) / 2.0, (x - y).abs() / 2f64.sqrt());
    let name = r["model"].as_str().unwrap();
    assert!(row(name).contains(&format!("| {name} | 2 | {} |", pooled(a, 0.5))), "{}", text(&out));
    assert!(row(name).ends_with(&format!(" {} |", pooled(n2, 0.25))), "{}", text(&out));
    assert!(row("another").contains(&format!("| another | 1 | {a:.4} |")), "{}", text(&out));
    // runs of one model evaluated at different noise levels cannot be pooled
    let mut odd = r.clone();
    odd["noise"][1]["sigma"] = serde_json::json!(0.07);
    std::fs::write(&run2_json, odd.to_string()).unwrap();
    let out = gattanet(&["plot-noise", s(&json), s(&run2_json), "--out", s(&both)]);
    assert!(!out.status.success() && text(&out).contains("different noise levels"), "{}", text(&out));
    let out = gattanet(&["plot-noise", s(&out_dir.join("config.json")), "--out", s(&both)]);
    assert!(!out.status.success() && text(&out).contains("not an eval report"), "{}", text(&out));
    // A missing data set: one clear line, failure.
    let out = gattanet(&["eval", "--model", s(&out_dir), "--data", s(&tmp.path().join("missing"))]);
    assert!(!out.status.success() && text(&out).contains("does not exist"), "{}", text(&out));
    // Out-of-range options: one clear line, not a panic or an abort.
    let passes_range = format!("--passes must be in 1..={}", gattanet::model::MAX_PASSES);
    for (args, needle) in [
        (vec!["eval", "--model", s(&out_dir), "--data", s(&data), "--passes", "0"], passes_range.as_str()),
        (vec!["eval", "--model", s(&out_dir), "--data", s(&data), "--passes", "18446744073709551615"], passes_range.as_str()),
        (
            vec![
                "train",
                "--config",
                s(&cfg_path),
                "--data",
                s(&data),
                "--out",
                s(&tmp.path().join("cut")),
                "--cutout",
                "18446744073709551615",
            ],
            "--cutout",
        ),
        (
            vec![
                "train",
                "--config",
                s(&cfg_path),
                "--data",
                s(&data),
                "--out",
                s(&tmp.path().join("ep")),
                "--epochs",
                "18446744073709551615",
            ],
            "--epochs",
        ),
    ] {
        let out = gattanet(&args);
        assert!(!out.status.success() && text(&out).contains(needle) && !text(&out).contains("panicked"), "{:?}: {}", args, text(&out));
    }
}

#[test]
fn train_step_updates_weights_and_both_passes_statistics() {
    let cfg = toy_config();
    let (model, varmap) = gattanet::train::init_seeded(&cfg, 1, &Device::Cpu).unwrap();
    let opts = TrainOptions::default();
    let mut optimizer = Optimizer::new(opts.optimizer, opts.weight_decay, &varmap.data().lock().unwrap());
    // Deep copies: Var::set writes into the variables' storage.
    let before: HashMap<String, Tensor> =
        gattanet::model::io::varmap_tensors(&varmap).into_iter().map(|(k, t)| (k, t.copy().unwrap())).collect();
    let x = Tensor::randn(0f32, 1.0, (8, 3, 16, 16), &Device::Cpu).unwrap();
    let labels: Vec<u32> = (0..8).map(|i| i % 4).collect();
    let r = run::train_step(&model, &mut optimizer, &x, &labels, &run::StepSettings::new(&cfg, &opts), 0.05).unwrap();
    assert!(r.loss.is_finite() && r.grad_norm.is_finite() && r.grad_norm > 0.0);
    assert_eq!(r.logits.dims(), &[8, 4]);
    assert_eq!(optimizer.steps, 1);
    let after = gattanet::model::io::varmap_tensors(&varmap);
    let changed = |name: &str| {
        let (a, b) = (&before[name], &after[name]);
        (a - b).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.0
    };
    for name in
        ["backbone.conv1.conv.weight", "head.fc2.bias", "gatta.conv2.key", "backbone.conv1.bn.stats0.mean", "backbone.conv1.bn.stats1.var"]
    {
        assert!(changed(name), "{name} did not change");
    }
}

#[test]
fn cli_bench_train_times_both_models() {
    let tmp = tempfile::tempdir().unwrap();
    let gatta = toy_config();
    let plain = ModelConfig { name: "tiny-plain".into(), attention: None, ..toy_config() };
    let mut args = vec!["bench".to_string(), "--train".into(), "--batch".into(), "4".into(), "--rounds".into(), "1".into()];
    args.extend(["--warmup".into(), "1".into(), "--json".into(), tmp.path().join("out.json").display().to_string()]);
    for cfg in [&plain, &gatta] {
        let path = tmp.path().join(format!("{}.json", cfg.name));
        std::fs::write(&path, cfg.to_json()).unwrap();
        args.extend(["--config".into(), path.display().to_string()]);
    }
    let out = gattanet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out));
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("out.json")).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, (name, passes)) in rows.iter().zip([("tiny-plain", 1), ("tiny", 2)]) {
        assert_eq!((row["model"].as_str(), row["passes"].as_u64(), row["batch"].as_u64()), (Some(name), Some(passes), Some(4)));
        for key in ["train_images_per_s", "forward_images_per_s"] {
            let v = row[key].as_f64().unwrap();
            assert!(v.is_finite() && v > 0.0, "{name}: {key} = {v}");
        }
    }
    assert!(text(&out).contains("train img/s"), "{}", text(&out));
}

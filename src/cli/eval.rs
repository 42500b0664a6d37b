//! `gattanet eval --model DIR --data PATH [--noise 0,0.01,...] [--json FILE] [--limit N] [--passes N] [--batch N]`
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::model::io;
use crate::train::data::{self, LoadOptions, Split};
use crate::train::eval::{evaluate, ClassAccuracy};
use crate::train::run::model_passes;
use crate::viz::charts::{self, NoiseSeries};

#[derive(clap::Args)]
pub struct Args {
    /// Model directory (config.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Data set (its test split is used): image folders, CIFAR-10/100 binary or IDX files.
    #[arg(long)]
    data: PathBuf,
    /// σ of Gaussian noise added to the [0, 1] image (then clipped to [0, 1]) before normalisation.
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.02,0.05,0.1,0.2")]
    noise: Vec<f32>,
    /// Write the results as JSON here, and the noise curve as a PNG next to it.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Evaluate on only the first N test images.
    #[arg(long)]
    limit: Option<usize>,
    /// Number of passes T (default: the model's).
    #[arg(long)]
    passes: Option<usize>,
    /// Images per forward batch (fewer use less memory: large inputs or models).
    #[arg(long, default_value_t = crate::train::eval::EVAL_BATCH)]
    batch: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also report the accuracy with flip test-time augmentation (the softmax averaged over the
    /// image and its mirror), separately from the single-view accuracy.
    #[arg(long)]
    tta: bool,
}

/// Accuracy at one noise level.
#[derive(Serialize, Deserialize)]
pub(super) struct NoiseAccuracy {
    pub sigma: f32,
    pub accuracy: f64,
}

/// The report `--json` writes (and `plot-noise` reads).
#[derive(Serialize, Deserialize)]
pub(super) struct Report {
    pub model: String,
    pub data: String,
    pub images: usize,
    pub passes: usize,
    pub accuracy: f64,
    pub per_pass: Vec<f64>,
    pub per_class: Vec<ClassAccuracy>,
    pub noise: Vec<NoiseAccuracy>,
    /// With `--tta`: accuracy of the final pass with flip test-time augmentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip_tta: Option<f64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::train::tune_allocator();
    let model = io::load_dir(&args.model, &candle_core::Device::Cpu).map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    let cfg = &model.config;
    let opts = LoadOptions { input: cfg.input.clone(), classes: Some(cfg.classes.clone()), limit: args.limit, threads: 0 };
    let t = std::time::Instant::now();
    let test = data::load(&args.data, Split::Test, &opts)?;
    super::train::report_skipped(&test);
    let passes = args.passes.unwrap_or_else(|| model_passes(cfg));
    anyhow::ensure!((1..=crate::model::MAX_PASSES).contains(&passes), "--passes must be in 1..={}, got {passes}", crate::model::MAX_PASSES);
    println!(
        "{} on {} ({}, read in {:.1} s), {} pass(es)",
        cfg.name,
        args.data.display(),
        test.summary(),
        t.elapsed().as_secs_f64(),
        passes
    );
    let t = std::time::Instant::now();
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    let clean = evaluate(&model, &test, passes, None, None, args.batch)?;
    println!("accuracy {:.2}% ({:.0} images/s)", 100.0 * clean.accuracy, clean.images as f64 / t.elapsed().as_secs_f64());
    if clean.non_finite > 0 {
        println!("  warning: {} image(s) gave logits that are not finite numbers (NaN or ±∞), counted as wrong", clean.non_finite);
    }
    if clean.per_pass.len() > 1 {
        let per_pass: Vec<String> = clean.per_pass.iter().enumerate().map(|(p, a)| format!("pass {}: {:.2}%", p + 1, 100.0 * a)).collect();
        println!("  {}", per_pass.join(", "));
    }
    let flip_tta = if args.tta {
        let r = crate::train::eval::evaluate_flip_tta(&model, &test, passes, None, args.batch)?;
        println!("  flip test-time augmentation (image + mirror): {:.2}%", 100.0 * r.accuracy);
        Some(r.accuracy)
    } else {
        None
    };
    let mut noise = Vec::new();
    for &sigma in &args.noise {
        anyhow::ensure!(sigma.is_finite() && sigma >= 0.0, "--noise: σ must be >= 0, got {sigma}");
        let accuracy = if sigma == 0.0 {
            clean.accuracy
        } else {
            evaluate(&model, &test, passes, None, Some((sigma, args.seed)), args.batch)?.accuracy
        };
        println!("  noise σ = {sigma:<6} accuracy {:.2}%", 100.0 * accuracy);
        noise.push(NoiseAccuracy { sigma, accuracy });
    }
    if let Some(path) = &args.json {
        let report = Report {
            model: cfg.name.clone(),
            data: super::data_label(&args.data, test.fingerprint()),
            images: clean.images,
            passes,
            accuracy: clean.accuracy,
            per_pass: clean.per_pass.clone(),
            per_class: clean.per_class.clone(),
            noise,
            flip_tta,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", path.display()))?;
        let points = report.noise.iter().map(|p| charts::NoisePoint::single(p.sigma, p.accuracy as f32)).collect();
        let png = path.with_extension("png");
        std::fs::write(&png, charts::noise_curve_png(&[NoiseSeries { name: cfg.name.clone(), points }]))
            .with_context(|| format!("cannot write {}", png.display()))?;
        println!("wrote {} and {}", path.display(), png.display());
    }
    Ok(())
}

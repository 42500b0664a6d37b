//! `gattanet train --config CONFIG --data PATH --out DIR [--resume] [...]`
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::model::{io, ModelConfig};
use crate::train::data::{self, LoadOptions, Split};
use crate::train::run::{self, Job, TrainOptions};
use crate::train::{OptimizerKind, ScheduleKind};

#[derive(clap::Args)]
pub struct Args {
    /// Model config JSON (on --resume: optional, must match the checkpoint's).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data set: image folders (train/, test/), CIFAR-10/100 binary files or IDX (MNIST-style) files.
    #[arg(long)]
    data: PathBuf,
    /// Output model directory: config.json, model.safetensors, metrics.json, checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run whose checkpoint is in --out, exactly where it stopped. Options not given
    /// are taken from the checkpoint; options given must match it.
    #[arg(long)]
    resume: bool,
    /// Epochs [default: 30].
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size [default: 128].
    #[arg(long)]
    batch: Option<usize>,
    /// Peak learning rate [default: 0.05].
    #[arg(long)]
    lr: Option<f64>,
    /// Optimiser [default: sgd (Nesterov momentum 0.9)].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Learning-rate schedule [default: onecycle].
    #[arg(long, value_enum)]
    schedule: Option<ScheduleKind>,
    /// Fraction of the steps spent warming up [default: 0.15].
    #[arg(long)]
    warmup: Option<f64>,
    /// Weight decay on conv/linear weights, keys and queries [default: 5e-4].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Label smoothing [default: 0.1].
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Maximum gradient norm, 0 for none [default: 5].
    #[arg(long)]
    clip: Option<f64>,
    /// Seed of the weights, the shuffling and the augmentation [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Use only N training images (for smoke tests).
    #[arg(long)]
    limit: Option<usize>,
    /// Evaluate on only N test images.
    #[arg(long)]
    eval_limit: Option<usize>,
    /// Turn off random crop and flip.
    #[arg(long)]
    no_augment: bool,
    /// Peak learning rate of a separate AdamW group for the head and GAttANet's parameters
    /// (same schedule shape; default: they follow --optimizer and --lr).
    #[arg(long)]
    head_lr: Option<f64>,
    /// Weight decay of that AdamW group [default: 0.05].
    #[arg(long)]
    head_weight_decay: Option<f64>,
    /// Random-crop padding in pixels: how far the crop may shift the image [default: 4].
    #[arg(long)]
    crop_pad: Option<usize>,
    /// Train the first N epochs with one pass (identical while α = 0, and cheaper) [default: 0].
    #[arg(long)]
    plain_epochs: Option<usize>,
    /// Cutout square side in pixels, 0 for none [default: 0].
    #[arg(long)]
    cutout: Option<usize>,
    /// Storage of model.safetensors [default: f16 when that stays within 5 MB, else int8].
    #[arg(long, value_parser = ["f16", "f32", "int8"])]
    dtype: Option<String>,
    /// Start from the weights of a trained model (a model directory, or a run's checkpoint/
    /// folder for its exact f32 weights) with this run's own schedule: fine-tuning or a warm restart.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Stop after N epochs of this invocation (the checkpoint lets --resume go on later).
    #[arg(long)]
    stop_after: Option<usize>,
    /// No progress output (the per-epoch lines still print).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::train::tune_allocator();
    let saved = run::checkpoint_state(&args.out)?;
    let saved = if args.resume { saved } else { None };
    let config = match (&args.config, &saved) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            ModelConfig::from_json(&text).with_context(|| path.display().to_string())?
        }
        (None, Some(state)) => state.config.clone(),
        (None, None) if args.resume => bail!("--resume: no checkpoint in {}", args.out.join(run::CHECKPOINT_DIR).display()),
        (None, None) => bail!("--config is required (the model config JSON)"),
    };
    let base = saved.as_ref().map(|s| s.options.clone()).unwrap_or_default();
    let options = TrainOptions {
        epochs: args.epochs.unwrap_or(base.epochs),
        batch: args.batch.unwrap_or(base.batch),
        lr: args.lr.unwrap_or(base.lr),
        optimizer: args.optimizer.unwrap_or(base.optimizer),
        schedule: args.schedule.unwrap_or(base.schedule),
        warmup: args.warmup.unwrap_or(base.warmup),
        weight_decay: args.weight_decay.unwrap_or(base.weight_decay),
        label_smoothing: args.label_smoothing.unwrap_or(base.label_smoothing),
        clip: args.clip.unwrap_or(base.clip),
        seed: args.seed.unwrap_or(base.seed),
        limit: args.limit.or(base.limit),
        eval_limit: args.eval_limit.or(base.eval_limit),
        augment: base.augment && !args.no_augment,
        cutout: args.cutout.unwrap_or(base.cutout),
        init: args.init.clone().or(base.init),
        crop_pad: args.crop_pad.unwrap_or(base.crop_pad),
        plain_epochs: args.plain_epochs.unwrap_or(base.plain_epochs),
        head_lr: args.head_lr.or(base.head_lr),
        head_weight_decay: args.head_weight_decay.unwrap_or(base.head_weight_decay),
    };
    options.validate()?;

    let t = Instant::now();
    let load = |split, limit| {
        let opts = LoadOptions { input: config.input.clone(), classes: Some(config.classes.clone()), limit, threads: 0 };
        let ds = data::load(&args.data, split, &opts)?;
        report_skipped(&ds);
        anyhow::Ok(ds)
    };
    let train = load(Split::Train, options.limit)?;
    let test = load(Split::Test, options.eval_limit)?;
    println!("data {}: train {}; test {} ({:.1} s)", args.data.display(), train.summary(), test.summary(), t.elapsed().as_secs_f64());

    let job = Job {
        config,
        options,
        out: args.out.clone(),
        resume: args.resume,
        stop_after: args.stop_after,
        dtype: args.dtype.as_deref().and_then(io::Storage::parse),
        command_line: super::portable_command_line(),
        data: super::data_label(&args.data, train.fingerprint()),
        log: true,
        progress: !args.quiet,
    };
    let m = &job.config;
    println!(
        "model {}: {} parameters, passes {}, {} threads, seed {}",
        m.name,
        {
            let (_, vm) = crate::model::io::init(m, &candle_core::Device::Cpu)?;
            run::parameter_count(&vm)
        },
        run::model_passes(m),
        candle_core::utils::get_num_threads(),
        job.options.seed
    );
    let metrics = run::train(&job, &train, &test)?;
    println!(
        "{}: test accuracy {:.2}% after {} of {} epochs ({:.0} s); wrote {}",
        metrics.model,
        100.0 * metrics.test_accuracy,
        metrics.epochs_done,
        job.options.epochs,
        metrics.training_seconds,
        args.out.display()
    );
    Ok(())
}

/// Print how many files were skipped, naming the first few.
pub fn report_skipped(ds: &data::Dataset) {
    if ds.skipped.is_empty() {
        return;
    }
    eprintln!("warning: skipped {} unreadable file(s):", ds.skipped.len());
    for (path, why) in ds.skipped.iter().take(5) {
        eprintln!("  {}: {why}", path.display());
    }
    if ds.skipped.len() > 5 {
        eprintln!("  ...");
    }
}

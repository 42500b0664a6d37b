//! The training loop: epochs of augmented batches, the passes' loss, clipping, the optimiser and
//! its schedule, evaluation each epoch, a checkpoint each epoch that `resume` continues exactly,
//! and the output model directory with `metrics.json`.
//!
//! Exact resumption: the weights are drawn from the seed ([`super::init`]), each epoch's shuffle
//! and augmentation come from an RNG derived from (seed, epoch), and the checkpoint stores every
//! variable (BatchNorm statistics included) in f32, the optimiser state and the step count. So
//! N epochs straight and k epochs + resume + N − k epochs give the same weights, bit for bit.
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::augment::{derived_rng, make_batch, Augment, Transform};
use super::data::Dataset;
use super::eval::{evaluate, forward, ClassAccuracy, EvalResult, Tally, EVAL_BATCH};
use super::init::init_seeded;
use super::optim::{
    clip_grad_norm, is_bn_stat, is_head_or_attention, learning_rate, passes_loss, Group, Optimizer, OptimizerKind, ScheduleKind,
};
use super::whitening;
use crate::model::{io, BackboneConfig, Model, ModelConfig, RunOptions};

pub const CHECKPOINT_DIR: &str = "checkpoint";
pub const METRICS_FILE: &str = "metrics.json";

/// Everything that decides the trajectory of a run (and is checked on resume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub schedule: ScheduleKind,
    /// Fraction of the steps spent warming up.
    pub warmup: f64,
    pub weight_decay: f64,
    pub label_smoothing: f64,
    /// Maximum global gradient norm (0: no clipping).
    pub clip: f64,
    pub seed: u64,
    /// Use only this many training images.
    pub limit: Option<usize>,
    /// Evaluate on only this many test images.
    pub eval_limit: Option<usize>,
    /// Random crop (padding 4) and flip.
    pub augment: bool,
    /// Cutout square side (0: off).
    pub cutout: usize,
    /// Start from these trained weights (a model directory, or a run's checkpoint folder for the
    /// exact f32 weights) instead of the seeded initialisation: fine-tuning, or a warm restart
    /// with a new schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// Random-crop padding in pixels (the crop shifts the image by up to this much).
    #[serde(default = "default_crop_pad")]
    pub crop_pad: usize,
    /// Train the first N epochs with one pass only. With α = 0 at initialisation the later
    /// passes repeat the first exactly, so this trains the same network at a fraction of the cost
    /// until GAttANet's passes start (α, keys and queries learn from then on).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub plain_epochs: usize,
    /// Peak learning rate of an AdamW group for the head and GAttANet's parameters (None: they
    /// follow the main optimiser). Its schedule has the main one's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_lr: Option<f64>,
    /// Decoupled weight decay of that AdamW group.
    #[serde(default = "default_head_weight_decay")]
    pub head_weight_decay: f64,
}

fn default_head_weight_decay() -> f64 {
    0.05
}

fn default_crop_pad() -> usize {
    Augment::STANDARD.pad
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 30,
            batch: 128,
            lr: 0.05,
            optimizer: OptimizerKind::Sgd,
            schedule: ScheduleKind::Onecycle,
            warmup: 0.15,
            weight_decay: 5e-4,
            label_smoothing: 0.1,
            clip: 5.0,
            seed: 0,
            limit: None,
            eval_limit: None,
            augment: true,
            cutout: 0,
            init: None,
            crop_pad: default_crop_pad(),
            plain_epochs: 0,
            head_lr: None,
            head_weight_decay: default_head_weight_decay(),
        }
    }
}

impl TrainOptions {
    pub fn augmentation(&self) -> Augment {
        let base = if self.augment { Augment { pad: self.crop_pad, ..Augment::STANDARD } } else { Augment::NONE };
        Augment { cutout: self.cutout, ..base }
    }

    /// The optimiser these options describe, over `vars`.
    pub fn optimizer_for(&self, vars: &HashMap<String, candle_core::Var>) -> Optimizer {
        let optimizer = Optimizer::new(self.optimizer, self.weight_decay, vars);
        match self.head_lr {
            None => optimizer,
            Some(lr) => {
                let group = Group { kind: OptimizerKind::Adamw, lr_scale: lr / self.lr, weight_decay: self.head_weight_decay as f32 };
                optimizer.with_group(is_head_or_attention, group)
            }
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch == 0 {
            bail!("--epochs and --batch must be at least 1");
        }
        if self.epochs > 100_000 || self.batch > 65_536 {
            bail!("--epochs must be at most 100000 and --batch at most 65536");
        }
        if let Some(lr) = self.head_lr {
            if !(lr.is_finite() && lr > 0.0) {
                bail!("--head-lr must be positive, got {lr}");
            }
        }
        if !(self.head_weight_decay.is_finite() && self.head_weight_decay >= 0.0) {
            bail!("--head-weight-decay must be >= 0");
        }
        if self.crop_pad > 64 {
            bail!("--crop-pad is in pixels, at most 64; got {}", self.crop_pad);
        }
        if self.plain_epochs > self.epochs {
            bail!("--plain-epochs ({}) exceeds --epochs ({})", self.plain_epochs, self.epochs);
        }
        if self.cutout > 1024 {
            bail!("--cutout is a square side in pixels, at most 1024; got {}", self.cutout);
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be positive, got {}", self.lr);
        }
        if !(0.0..=1.0).contains(&self.warmup) {
            bail!("--warmup is a fraction of the steps, in [0, 1]; got {}", self.warmup);
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            bail!("--label-smoothing must be in [0, 1), got {}", self.label_smoothing);
        }
        if !(self.weight_decay >= 0.0 && self.clip >= 0.0) {
            bail!("--weight-decay and --clip must be >= 0");
        }
        Ok(())
    }
}

/// One epoch in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    /// Test accuracy of each pass.
    pub test_per_pass: Vec<f64>,
    pub images_per_second: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean gradient norm before clipping, and the fraction of steps clipped.
    pub grad_norm: f64,
    pub clipped: f64,
    pub seconds: f64,
}

/// Accuracy on a few training batches with batch statistics (train mode) and with the running
/// statistics (eval mode): a large gap means the running statistics do not fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BnCheck {
    pub images: usize,
    pub train_mode_per_pass: Vec<f64>,
    pub eval_mode_per_pass: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub model: String,
    /// Whether all epochs ran.
    pub complete: bool,
    pub epochs_done: usize,
    pub test_accuracy: f64,
    pub test_per_pass: Vec<f64>,
    pub per_class: Vec<ClassAccuracy>,
    pub test_images: usize,
    pub train_images: usize,
    /// Trained parameters (BatchNorm running statistics excluded).
    #[serde(default)]
    pub parameters: usize,
    /// Forward FLOPs per image for all passes: 2 × (T × MACs per pass + (T − 1) × GAttANet MACs).
    #[serde(default)]
    pub flops_per_image: u64,
    pub passes: usize,
    pub training_seconds: f64,
    pub history: Vec<EpochRecord>,
    pub bn_check: Option<BnCheck>,
    pub options: TrainOptions,
    pub seed: u64,
    pub command_line: String,
    pub data: String,
    /// Storage type of model.safetensors.
    pub dtype: String,
    pub threads: usize,
    /// Set when the run started from another run's checkpoint taken in its plain epochs
    /// (`scripts/fork-plain-twin.py`): which run, and after which epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<String>,
}

/// A training run.
#[derive(Debug, Clone)]
pub struct Job {
    pub config: ModelConfig,
    pub options: TrainOptions,
    pub out: PathBuf,
    pub resume: bool,
    /// End this invocation after this many epochs (a checkpoint to resume from stays).
    pub stop_after: Option<usize>,
    /// Storage type of the model (None: f16 when that stays under 5 MB, else f32).
    pub dtype: Option<io::Storage>,
    pub command_line: String,
    pub data: String,
    /// Per-epoch lines (and the BatchNorm check, resume notes) on stdout.
    pub log: bool,
    /// A progress bar on a terminal, else a line every quarter epoch.
    pub progress: bool,
}

/// What a checkpoint's state.json holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub version: u32,
    pub epochs_done: usize,
    pub steps: u64,
    pub config: ModelConfig,
    pub options: TrainOptions,
    pub train_images: usize,
    pub train_fingerprint: u64,
    pub metrics: Metrics,
}

/// Trained parameters (BatchNorm statistics excluded).
pub fn parameter_count(varmap: &VarMap) -> usize {
    let data = varmap.data().lock().expect("varmap lock");
    data.iter().filter(|(n, _)| !is_bn_stat(n)).map(|(_, v)| v.elem_count()).sum()
}

/// Forward FLOPs per image for `passes` passes.
pub fn flops_per_image(model: &Model, passes: usize) -> u64 {
    let t = passes.max(1) as u64;
    let att = if model.gatta().is_some() { (t - 1) * model.attention_macs_per_pass() } else { 0 };
    2 * (t * model.macs_per_pass() + att)
}

/// The passes a model trains and evaluates with.
pub fn model_passes(config: &ModelConfig) -> usize {
    config.attention.as_ref().map_or(1, |a| a.passes)
}

/// The options stored in `out`'s checkpoint, if there is one.
pub fn checkpoint_state(out: &Path) -> Result<Option<CheckpointState>> {
    let Some(dir) = checkpoint_dir(out) else { return Ok(None) };
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))?))
}

/// The checkpoint folder (or the previous one, if a crash interrupted the swap).
fn checkpoint_dir(out: &Path) -> Option<PathBuf> {
    [CHECKPOINT_DIR, "checkpoint.old"].iter().map(|d| out.join(d)).find(|d| d.join("state.json").is_file())
}

/// Set every variable from `dir/model.safetensors`, checked against the config being trained.
fn load_init(varmap: &VarMap, cfg: &ModelConfig, dir: &Path) -> Result<()> {
    let path = dir.join(io::WEIGHTS_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("--init: cannot read {}", path.display()))?;
    let tensors = io::tensors_from_bytes(cfg, &bytes, &Device::Cpu)
        .with_context(|| format!("--init: {} does not fit the model being trained", path.display()))?;
    let data = varmap.data().lock().expect("varmap lock");
    for (name, var) in data.iter() {
        let t = tensors.get(name).with_context(|| format!("--init: {} lacks tensor `{name}`", path.display()))?;
        var.set(t)?;
    }
    Ok(())
}

fn storage_dtype(job: &Job, varmap: &VarMap) -> io::Storage {
    job.dtype.unwrap_or_else(|| io::Storage::fitting(&io::varmap_tensors(varmap), io::MODEL_LIMIT_BYTES))
}

/// Set the frozen whitening conv of a `conv_groups` backbone from the training images.
pub fn set_whitening(varmap: &VarMap, train: &Dataset, cfg: &ModelConfig, pairs: usize) -> Result<()> {
    let cov = whitening::patch_covariance(train, &cfg.input, whitening::WHITENING_IMAGES)?;
    let filters = whitening::whitening_filters(&cov, pairs)?;
    let data = varmap.data().lock().expect("varmap lock");
    let var = data.get(WHITENING_WEIGHT).with_context(|| format!("the model has no `{WHITENING_WEIGHT}`"))?;
    var.set(&Tensor::from_vec(filters, var.shape(), var.device())?)?;
    Ok(())
}

/// Set every pass's BatchNorm statistics to those of the first pass.
fn copy_first_pass_stats(varmap: &VarMap) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    for (name, var) in data.iter() {
        if !is_bn_stat(name) || name.contains(".stats0.") {
            continue;
        }
        let (head, tail) = name.rsplit_once('.').expect("a statistic's name has a set");
        let (prefix, _) = head.rsplit_once('.').expect("a statistic's name has a set");
        let first = data.get(&format!("{prefix}.stats0.{tail}")).with_context(|| format!("no first-pass statistics for `{name}`"))?;
        var.set(first.as_tensor())?;
    }
    Ok(())
}

/// The frozen patch-whitening filters of `conv_groups` backbones.
pub const WHITENING_WEIGHT: &str = "backbone.whiten.weight";

/// Train according to `job`; returns the metrics also written to `out/metrics.json`.
pub fn train(job: &Job, train: &Dataset, test: &Dataset) -> Result<Metrics> {
    let opts = &job.options;
    opts.validate()?;
    let cfg = &job.config;
    if train.is_empty() {
        bail!("no training images");
    }
    if train.classes.len() != cfg.num_classes() || (train.channels, [train.height, train.width]) != (cfg.input.channels, cfg.input.size) {
        bail!("the training data ({}) do not match the model ({} classes, input {:?})", train.summary(), cfg.num_classes(), cfg.input.size);
    }
    let device = Device::Cpu;
    let (model, varmap) = init_seeded(cfg, opts.seed, &device)?;
    let vars: HashMap<String, candle_core::Var> = varmap.data().lock().expect("varmap lock").clone();
    let mut optimizer = opts.optimizer_for(&vars);
    let passes = model_passes(cfg);
    let dtype = storage_dtype(job, &varmap);

    let n = train.len();
    let batch = opts.batch.min(n);
    let steps_per_epoch = n / batch;
    let total_steps = steps_per_epoch * opts.epochs;
    let fingerprint = train.fingerprint();

    let mut metrics = Metrics {
        model: cfg.name.clone(),
        complete: false,
        epochs_done: 0,
        test_accuracy: 0.0,
        test_per_pass: Vec::new(),
        per_class: Vec::new(),
        test_images: 0,
        train_images: n,
        parameters: parameter_count(&varmap),
        flops_per_image: flops_per_image(&model, passes),
        passes,
        training_seconds: 0.0,
        history: Vec::new(),
        bn_check: None,
        options: opts.clone(),
        seed: opts.seed,
        command_line: job.command_line.clone(),
        data: job.data.clone(),
        dtype: dtype.name().into(),
        threads: candle_core::utils::get_num_threads(),
        forked_from: None,
    };

    let start_epoch = start_or_resume(job, train, &varmap, &mut optimizer, &mut metrics)?;
    let end_epoch = match job.stop_after {
        Some(k) => (start_epoch + k).min(opts.epochs),
        None => opts.epochs,
    };
    let ctx = EpochContext {
        job,
        train,
        aug: opts.augmentation(),
        settings: StepSettings::new(cfg, opts),
        batch,
        steps_per_epoch,
        total_steps,
        interactive: job.progress && std::io::stderr().is_terminal(),
    };

    for epoch in start_epoch..end_epoch {
        let epoch_start = Instant::now();
        let passes_now = if epoch < opts.plain_epochs { 1 } else { passes };
        if epoch == opts.plain_epochs && epoch > 0 {
            // The later passes start as copies of the first (α = 0): so do their statistics.
            copy_first_pass_stats(&varmap)?;
        }
        let t = train_epoch(&ctx, &model, &mut optimizer, epoch, passes_now)?;
        if epoch == 0 {
            let check = bn_check(&model, &varmap, train, batch, passes_now)?;
            if job.log {
                print_bn_check(&check);
            }
            metrics.bn_check = Some(check);
        }
        let result = evaluate(&model, test, passes_now, opts.eval_limit, None, EVAL_BATCH)?;
        let steps = steps_per_epoch as f64;
        let record = EpochRecord {
            epoch: epoch + 1,
            loss: t.loss_sum / steps,
            train_accuracy: t.correct as f64 / t.seen.max(1) as f64,
            test_accuracy: result.accuracy,
            test_per_pass: result.per_pass.clone(),
            images_per_second: t.seen as f64 / t.seconds.max(1e-9),
            lr: t.lr,
            grad_norm: t.norm_sum / steps,
            clipped: t.clipped as f64 / steps,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        if job.log {
            print_epoch(&record, opts.epochs);
        }
        metrics.training_seconds += record.seconds;
        metrics.history.push(record);
        metrics.epochs_done = epoch + 1;
        metrics.complete = epoch + 1 == opts.epochs;
        set_test_result(&mut metrics, &result);
        // Outputs first, then the checkpoint: a crash in between only repeats an epoch.
        io::save_dir(&job.out, cfg, &io::varmap_tensors(&varmap), dtype)?;
        if metrics.complete && dtype != io::Storage::F32 {
            // Report the accuracy of the weights as stored.
            let stored = io::load_dir(&job.out, &device)?;
            set_test_result(&mut metrics, &evaluate(&stored, test, passes, opts.eval_limit, None, EVAL_BATCH)?);
        }
        write_json(&job.out.join(METRICS_FILE), &metrics)?;
        let state = CheckpointState {
            version: 1,
            epochs_done: epoch + 1,
            steps: optimizer.steps,
            config: cfg.clone(),
            options: opts.clone(),
            train_images: n,
            train_fingerprint: fingerprint,
            metrics: metrics.clone(),
        };
        save_checkpoint(&job.out, &varmap, &optimizer, &state)?;
    }
    if start_epoch >= opts.epochs && job.log {
        println!("{} already finished all {} epochs", job.out.display(), opts.epochs);
    }
    Ok(metrics)
}

/// What every epoch of a run shares.
struct EpochContext<'a> {
    job: &'a Job,
    train: &'a Dataset,
    aug: Augment,
    settings: StepSettings,
    batch: usize,
    steps_per_epoch: usize,
    total_steps: usize,
    /// A progress bar (a terminal), else a line every quarter epoch with --progress.
    interactive: bool,
}

/// The sums over one epoch's steps.
struct EpochTally {
    loss_sum: f64,
    correct: usize,
    seen: usize,
    norm_sum: f64,
    clipped: usize,
    /// The last step's learning rate.
    lr: f64,
    /// Seconds spent in the steps (not in evaluation or saving).
    seconds: f64,
}

/// One epoch of steps over a fresh permutation of the training images.
fn train_epoch(ctx: &EpochContext, model: &Model, optimizer: &mut Optimizer, epoch: usize, passes_now: usize) -> Result<EpochTally> {
    let (job, train, opts) = (ctx.job, ctx.train, &ctx.job.options);
    let (n, batch, steps_per_epoch, total_steps) = (train.len(), ctx.batch, ctx.steps_per_epoch, ctx.total_steps);
    let (spec, aug, interactive, device) = (&job.config.input, &ctx.aug, ctx.interactive, Device::Cpu);
    let settings = &ctx.settings;
    let mut rng = derived_rng(opts.seed, "epoch", epoch as u64);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng);
    let bar = if interactive {
        let bar = ProgressBar::new(steps_per_epoch as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed}<{eta}]")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, opts.epochs));
        Some(bar)
    } else {
        None
    };
    let (mut loss_sum, mut correct, mut seen, mut norm_sum, mut clipped) = (0.0, 0usize, 0usize, 0.0, 0usize);
    let mut lr = 0.0;
    let mut train_time = 0.0;
    for s in 0..steps_per_epoch {
        let t0 = Instant::now();
        let idx = &perm[s * batch..(s + 1) * batch];
        let b = make_batch(train, idx, spec, Transform::Augment(aug, &mut rng));
        let x = Tensor::from_slice(&b.x, b.shape, &device)?;
        lr = learning_rate(opts.schedule, opts.lr, opts.warmup, epoch * steps_per_epoch + s, total_steps);
        let settings = StepSettings { passes: passes_now, ..settings.clone() };
        let StepResult { loss: loss_value, grad_norm: norm, logits } = train_step(model, optimizer, &x, &b.y, &settings, lr)?;
        if !loss_value.is_finite() {
            bail!(
                "the loss became {loss_value} at epoch {} step {} (lr {lr:.3e}); the last checkpoint is from epoch {epoch}. \
                     Try a lower --lr, a smaller --clip, or `bounded`/`scale_by_sqrt_d` in the attention config",
                epoch + 1,
                s + 1
            );
        }
        let pred = super::eval::argmax(&logits)?;
        correct += pred.iter().zip(&b.y).filter(|(a, b)| a == b).count();
        seen += b.y.len();
        loss_sum += loss_value;
        norm_sum += norm;
        clipped += usize::from(opts.clip > 0.0 && norm > opts.clip);
        train_time += t0.elapsed().as_secs_f64();
        let msg = || {
            format!(
                "loss {:.4} acc {:.1}% {:.0} img/s",
                loss_sum / (s + 1) as f64,
                100.0 * correct as f64 / seen as f64,
                seen as f64 / train_time
            )
        };
        if let Some(bar) = &bar {
            bar.set_message(msg());
            bar.inc(1);
        } else if job.progress && ((s + 1) % (steps_per_epoch / 4).max(1) == 0) && s + 1 < steps_per_epoch {
            println!("  epoch {} step {}/{steps_per_epoch}: {}", epoch + 1, s + 1, msg());
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(EpochTally { loss_sum, correct, seen, norm_sum, clipped, lr, seconds: train_time })
}

fn print_epoch(record: &EpochRecord, epochs: usize) {
    let per_pass = if record.test_per_pass.len() > 1 {
        format!(" (passes {})", record.test_per_pass.iter().map(|a| format!("{:.2}%", 100.0 * a)).collect::<Vec<_>>().join(" / "))
    } else {
        String::new()
    };
    println!(
        "epoch {}/{epochs}: loss {:.4}, train {:.2}%, test {:.2}%{per_pass}, {:.0} img/s, lr {:.2e}, grad norm {:.2} ({:.0}% clipped), {:.0} s",
        record.epoch,
        record.loss,
        100.0 * record.train_accuracy,
        100.0 * record.test_accuracy,
        record.images_per_second,
        record.lr,
        record.grad_norm,
        100.0 * record.clipped,
        record.seconds
    );
}

/// A new run: the initial weights (`--init`, or the whitening filters set from the data).
/// `--resume`: the checkpoint's weights, optimiser state and metrics, after checking that the
/// config, options and data are the same. Returns the first epoch to train.
fn start_or_resume(job: &Job, train: &Dataset, varmap: &VarMap, optimizer: &mut Optimizer, metrics: &mut Metrics) -> Result<usize> {
    let (opts, cfg, n) = (&job.options, &job.config, train.len());
    let fingerprint = train.fingerprint();
    let device = Device::Cpu;
    let existing = checkpoint_state(&job.out)?;
    let mut start_epoch = 0;
    match (job.resume, existing) {
        (true, None) => bail!("--resume: no checkpoint in {} (start without --resume)", job.out.join(CHECKPOINT_DIR).display()),
        (false, Some(_)) => {
            bail!("{} already holds a checkpoint: pass --resume to continue that run, or choose another --out", job.out.display())
        }
        (false, None) => {
            if let Some(dir) = &opts.init {
                load_init(varmap, cfg, dir)?;
                if job.log {
                    println!("starting from the weights in {}", dir.display());
                }
            } else if let BackboneConfig::ConvGroups { whitening, .. } = &cfg.backbone {
                set_whitening(varmap, train, cfg, *whitening)?;
                if job.log {
                    println!("patch whitening set from {} training images", whitening::WHITENING_IMAGES.min(n));
                }
            }
        }
        (true, Some(state)) => {
            if state.config != *cfg {
                bail!("--resume: the model config differs from the checkpoint's");
            }
            let same = TrainOptions { eval_limit: opts.eval_limit, ..state.options.clone() };
            if same != *opts {
                bail!(
                    "--resume: the training options differ from the checkpoint's\n  checkpoint: {}\n  now:        {}",
                    serde_json::to_string(&state.options)?,
                    serde_json::to_string(opts)?
                );
            }
            if state.train_images != n || state.train_fingerprint != fingerprint {
                bail!("--resume: the training data differ from the checkpoint's ({} images then, {n} now)", state.train_images);
            }
            let dir = checkpoint_dir(&job.out).expect("state found");
            let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &device)?;
            {
                let data = varmap.data().lock().expect("varmap lock");
                for (name, var) in data.iter() {
                    let t = tensors.get(name).with_context(|| format!("checkpoint lacks tensor `{name}`"))?;
                    var.set(&t.to_dtype(DType::F32)?)?;
                }
            }
            let opt_state = candle_core::safetensors::load(dir.join("optimizer.safetensors"), &device)?;
            optimizer.load_state(&opt_state, state.steps)?;
            start_epoch = state.epochs_done;
            // the run's record, with what this invocation computes afresh
            *metrics = Metrics {
                command_line: job.command_line.clone(),
                options: opts.clone(),
                parameters: metrics.parameters,
                flops_per_image: metrics.flops_per_image,
                ..state.metrics
            };
            if job.log {
                println!("resuming {} after epoch {start_epoch} of {}", job.out.display(), opts.epochs);
            }
        }
    }

    Ok(start_epoch)
}

/// What one training step needs besides the model, the optimiser and the batch.
#[derive(Debug, Clone)]
pub struct StepSettings {
    pub passes: usize,
    pub label_smoothing: f64,
    /// Weight of the earlier passes' loss.
    pub aux: f64,
    /// Maximum global gradient norm (0: no clipping).
    pub clip: f64,
}

impl StepSettings {
    pub fn new(config: &ModelConfig, opts: &TrainOptions) -> Self {
        StepSettings {
            passes: model_passes(config),
            label_smoothing: opts.label_smoothing,
            aux: config.attention.as_ref().map_or(0.0, |a| a.aux_loss_weight),
            clip: opts.clip,
        }
    }
}

/// What one training step reports.
pub struct StepResult {
    pub loss: f64,
    /// Global gradient norm before clipping (NaN when the loss was not finite).
    pub grad_norm: f64,
    /// Logits of the last pass (B, K).
    pub logits: Tensor,
}

/// One training step on a batch x (B, C, H, W) with `labels`: all passes in train mode (which
/// also updates the BatchNorm running statistics), the loss, backward, gradient clipping and the
/// optimiser update at learning rate `lr`. A non-finite loss returns before the backward pass
/// and leaves the weights untouched (the caller decides what to do).
pub fn train_step(model: &Model, optimizer: &mut Optimizer, x: &Tensor, labels: &[u32], s: &StepSettings, lr: f64) -> Result<StepResult> {
    let run = RunOptions { passes: s.passes, alphas: None, train: true, final_maps: false, keep: None };
    let mut logits: Vec<Tensor> = model.run(x, &run)?.into_iter().map(|o| o.logits).collect();
    let loss = passes_loss(&logits, labels, s.label_smoothing, s.aux)?;
    let loss_value = f64::from(loss.to_scalar::<f32>()?);
    let last = logits.pop().expect("a pass");
    if !loss_value.is_finite() {
        return Ok(StepResult { loss: loss_value, grad_norm: f64::NAN, logits: last });
    }
    let grads = loss.backward()?;
    let mut g = optimizer.gradients(&grads)?;
    drop(grads);
    let grad_norm = clip_grad_norm(&mut g, s.clip);
    optimizer.step(&g, lr)?;
    Ok(StepResult { loss: loss_value, grad_norm, logits: last })
}

fn set_test_result(metrics: &mut Metrics, r: &EvalResult) {
    metrics.test_accuracy = r.accuracy;
    metrics.test_per_pass = r.per_pass.clone();
    metrics.per_class = r.per_class.clone();
    metrics.test_images = r.images;
}

/// Accuracy on the first few training batches (no augmentation) in train mode and in eval mode.
/// The running statistics are restored afterwards, so the check changes nothing.
pub fn bn_check(model: &Model, varmap: &VarMap, train: &Dataset, batch: usize, passes: usize) -> Result<BnCheck> {
    let stats: Vec<(candle_core::Var, Tensor)> = {
        let data = varmap.data().lock().expect("varmap lock");
        data.iter().filter(|(n, _)| is_bn_stat(n)).map(|(_, v)| Ok((v.clone(), v.as_tensor().copy()?))).collect::<Result<_>>()?
    };
    let n = (4 * batch).min(train.len());
    let indices: Vec<usize> = (0..n).collect();
    let (mut t_train, mut t_eval) = (Tally::new(train.classes.len()), Tally::new(train.classes.len()));
    for chunk in indices.chunks(batch) {
        let b = make_batch(train, chunk, &model.config.input, Transform::<rand::rngs::StdRng>::None);
        t_train.add(&forward(model, &b, passes, true)?, &b.y)?;
        t_eval.add(&forward(model, &b, passes, false)?, &b.y)?;
    }
    for (var, saved) in stats {
        var.set(&saved)?;
    }
    Ok(BnCheck {
        images: n,
        train_mode_per_pass: t_train.result(&train.classes).per_pass,
        eval_mode_per_pass: t_eval.result(&train.classes).per_pass,
    })
}

fn print_bn_check(c: &BnCheck) {
    let fmt = |v: &[f64]| v.iter().map(|a| format!("{:.1}%", 100.0 * a)).collect::<Vec<_>>().join(" / ");
    println!(
        "BatchNorm check on {} training images: train mode (batch statistics) {}, eval mode (running statistics) {}",
        c.images,
        fmt(&c.train_mode_per_pass),
        fmt(&c.eval_mode_per_pass)
    );
    let gap = c.train_mode_per_pass.iter().zip(&c.eval_mode_per_pass).map(|(t, e)| t - e).fold(0.0, f64::max);
    if gap > 0.10 {
        println!("  warning: eval mode is {:.0} points below train mode: the running statistics do not fit", 100.0 * gap);
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(value)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Write the checkpoint to a fresh folder and swap it in, so a crash never leaves half of one.
fn save_checkpoint(out: &Path, varmap: &VarMap, optimizer: &Optimizer, state: &CheckpointState) -> Result<()> {
    let tmp = out.join("checkpoint.tmp");
    let old = out.join("checkpoint.old");
    let dir = out.join(CHECKPOINT_DIR);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    std::fs::write(tmp.join("model.safetensors"), io::to_safetensors(&io::varmap_tensors(varmap), io::Storage::F32)?)?;
    std::fs::write(tmp.join("optimizer.safetensors"), io::to_safetensors(&optimizer.state_tensors()?, io::Storage::F32)?)?;
    write_json(&tmp.join("state.json"), state)?;
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old)?;
        }
        std::fs::rename(&dir, &old)?;
    }
    std::fs::rename(&tmp, &dir).with_context(|| format!("cannot write {}", dir.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

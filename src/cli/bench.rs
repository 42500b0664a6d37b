//! `gattanet bench`: forward time per pass and GFLOP/s of each backbone on the CPU, with and
//! without GAttANet, measured interleaved in the same process so the ratio is fair.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use candle_core::{Device, Tensor};

use crate::model::{io, Model, ModelConfig, RunOptions};

/// The configs benchmarked when none are given: one per backbone.
const BUILTIN: [(&str, &str); 4] = [
    ("toy", include_str!("../../configs/toy-gattanet.json")),
    ("resnet20", include_str!("../../configs/resnet20-gattanet.json")),
    ("patchconv", include_str!("../../configs/patchconv-gattanet.json")),
    ("convgroups", include_str!("../../configs/convgroups-gattanet.json")),
];

#[derive(clap::Args)]
pub struct Args {
    /// Model configs to time (default: one per backbone, from configs/).
    #[arg(long)]
    config: Vec<PathBuf>,
    /// Batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    batch: Vec<usize>,
    /// Minimum timed rounds per measurement.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Backend: `cpu` (candle, per batch size) or `gpu` (the WebGPU engine: per-kernel GFLOP/s and
    /// ms per full inspection next to candle's in the same run).
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Time full training steps (forward of all passes, loss, backward, clipping, SGD update,
    /// BatchNorm statistics) on synthetic batches, and the eval-mode forward, in images/s.
    #[arg(long)]
    train: bool,
    /// Time our GELU kernel against candle's `gelu_erf` on the same inputs, forward and
    /// forward + backward, on a batch of the flagship's block maps.
    #[arg(long, conflicts_with = "train")]
    kernels: bool,
    /// With --train: untimed warm-up steps per model.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// With --train: also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run every config at this square input size instead of its own (e.g. 224 for the WebGPU
    /// engine's conv-kernel goal); the weights are random, so any size the model accepts works.
    #[arg(long)]
    input_size: Option<usize>,
    /// With --backend gpu: the device's peak f32 throughput in GFLOP/s (from its data sheet),
    /// to print each kernel's share of it.
    #[arg(long)]
    peak_gflops: Option<f64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let configs = configs(&args)?;
    match args.backend.as_str() {
        "cpu" if args.kernels => kernels::run(args.rounds),
        "cpu" if args.train => train::run(&configs, &args.batch, args.rounds, args.warmup, args.json.as_deref()),
        "cpu" => run_cpu(&args, &configs),
        "gpu" => gpu::run(&configs, args.rounds, args.peak_gflops),
        other => anyhow::bail!("unknown backend `{other}` (expected cpu or gpu)"),
    }?;
    if let Some(mb) = peak_resident_mb() {
        println!("peak resident memory of this process (VmHWM): {mb:.0} MB");
    }
    Ok(())
}

/// The process's peak resident set size, from Linux's /proc (None elsewhere).
fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1e3)
}

fn configs(args: &Args) -> anyhow::Result<Vec<(String, ModelConfig)>> {
    let mut configs = given_configs(args)?;
    if let Some(n) = args.input_size {
        for (name, cfg) in &mut configs {
            cfg.input.size = [n, n];
            cfg.validate().with_context(|| format!("{name} at {n}×{n}"))?;
        }
    }
    Ok(configs)
}

fn given_configs(args: &Args) -> anyhow::Result<Vec<(String, ModelConfig)>> {
    Ok(if args.config.is_empty() {
        BUILTIN.iter().map(|(n, t)| Ok((n.to_string(), ModelConfig::from_json(t)?))).collect::<anyhow::Result<_>>()?
    } else {
        args.config
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
                let cfg = ModelConfig::from_json(&text).with_context(|| p.display().to_string())?;
                Ok((cfg.name.clone(), cfg))
            })
            .collect::<anyhow::Result<_>>()?
    })
}

fn run_cpu(args: &Args, configs: &[(String, ModelConfig)]) -> anyhow::Result<()> {
    println!("CPU forward, candle {} thread(s); times are medians per pass", candle_core::utils::get_num_threads());
    println!(
        "{:<12} {:>5} {:>9} {:>12} {:>9} {:>12} {:>9} {:>12}",
        "backbone", "batch", "MFLOP/img", "plain ms", "GFLOP/s", "GAttANet ms", "GFLOP/s", "attn/plain"
    );
    for (name, cfg) in configs {
        let mut attended = cfg.clone();
        let att = attended.attention.get_or_insert_with(Default::default).clone();
        let mut plain_cfg = cfg.clone();
        plain_cfg.attention = None;
        let (plain, _) = io::init(&plain_cfg, &Device::Cpu)?;
        let (gatta, _) = io::init(&attended, &Device::Cpu)?;
        // α = 0.5 so the modulation really runs (an α of 0 would still cost the same, but be honest).
        let alphas = Some(vec![0.5; gatta.attended_sites().len()]);
        let flops_plain = 2.0 * plain.macs_per_pass() as f64;
        let flops_gatta = flops_plain + 2.0 * gatta.attention_macs_per_pass() as f64;
        for &b in &args.batch {
            let [h, w] = cfg.input.size;
            let x = Tensor::randn(0f32, 1.0, (b, cfg.input.channels, h, w), &Device::Cpu)?;
            let plain_run = RunOptions { passes: 1, alphas: None, train: false, final_maps: false, keep: None };
            let gatta_run = RunOptions { passes: att.passes, alphas: alphas.clone(), train: false, final_maps: false, keep: None };
            let (tp, tg) = interleaved(&plain, &plain_run, &gatta, &gatta_run, &x, args.rounds)?;
            let tg = tg / att.passes as f64;
            println!(
                "{:<12} {:>5} {:>9.1} {:>12.2} {:>9.1} {:>12.2} {:>9.1} {:>11.2}x",
                name,
                b,
                flops_plain / 1e6,
                tp * 1e3,
                flops_plain * b as f64 / tp / 1e9,
                tg * 1e3,
                flops_gatta * b as f64 / tg / 1e9,
                tg / tp
            );
        }
    }
    Ok(())
}

/// Median seconds of A and B, run alternately (ABAB...) after one warm-up each.
fn interleaved(a: &Model, ra: &RunOptions, b: &Model, rb: &RunOptions, x: &Tensor, rounds: usize) -> anyhow::Result<(f64, f64)> {
    let time = |m: &Model, r: &RunOptions| -> anyhow::Result<f64> {
        let t = Instant::now();
        let out = m.run(x, r)?;
        out.last().map(|o| o.logits.sum_all()).transpose()?; // force the result
        Ok(t.elapsed().as_secs_f64())
    };
    time(a, ra)?;
    time(b, rb)?;
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while ta.len() < rounds || (start.elapsed().as_secs_f64() < 1.0 && ta.len() < 200) {
        ta.push(time(a, ra)?);
        tb.push(time(b, rb)?);
    }
    Ok((median(&mut ta), median(&mut tb)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `--kernels`: our GELU kernel next to candle's, interleaved in one process.
mod kernels {
    use std::time::Instant;

    use candle_core::{Device, Tensor, Var};

    use super::median;

    /// Median seconds of `a` and `b` run alternately, after a warm-up of each.
    fn ab(
        rounds: usize,
        mut a: impl FnMut() -> anyhow::Result<()>,
        mut b: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<(f64, f64)> {
        a()?;
        b()?;
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(3) {
            let t = Instant::now();
            a()?;
            ta.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            b()?;
            tb.push(t.elapsed().as_secs_f64());
        }
        Ok((median(&mut ta), median(&mut tb)))
    }

    pub fn run(rounds: usize) -> anyhow::Result<()> {
        crate::train::tune_allocator();
        // A batch of 128 through one of the flagship's GELUs: 128 channels on 8x8 patches.
        let shape = (128, 128, 8, 8);
        println!(
            "GELU on {shape:?} ({:.1} M values), candle CPU, {} thread(s); medians of {} rounds",
            (128 * 128 * 64) as f64 / 1e6,
            candle_core::utils::get_num_threads(),
            rounds.max(3)
        );
        println!("{:<8} {:<18} {:>10} {:>10} {:>8}", "inputs", "op", "ours ms", "candle ms", "candle/ours");
        // The spread matters: libm's erf is cheap near 0 and costly in the tails, and a trained
        // network's pre-activations are far wider than unit Gaussians.
        for sigma in [1.0f32, 3.0] {
            let x = Var::from_tensor(&Tensor::randn(0f32, sigma, shape, &Device::Cpu)?)?;
            let (ours, theirs) = ab(
                rounds,
                || {
                    crate::kernels::gelu_erf(&x)?;
                    Ok(())
                },
                || {
                    x.gelu_erf()?;
                    Ok(())
                },
            )?;
            println!("{:<8} {:<18} {:>10.2} {:>10.2} {:>7.2}x", format!("σ {sigma}"), "forward", ours * 1e3, theirs * 1e3, theirs / ours);
            let step = |y: Tensor| -> anyhow::Result<()> {
                y.sum_all()?.backward()?;
                Ok(())
            };
            let (ours, theirs) = ab(rounds, || step(crate::kernels::gelu_erf(&x)?), || step(x.gelu_erf()?))?;
            println!(
                "{:<8} {:<18} {:>10.2} {:>10.2} {:>7.2}x",
                format!("σ {sigma}"),
                "forward+backward",
                ours * 1e3,
                theirs * 1e3,
                theirs / ours
            );
        }
        Ok(())
    }
}

/// `--train`: images/s of the trainer's own step ([`crate::train::run::train_step`]) and of the
/// eval-mode forward, per config and batch size.
mod train {
    use std::path::Path;
    use std::time::Instant;

    use candle_core::{Device, Tensor};
    use serde::Serialize;

    use super::median;
    use crate::model::{Model, ModelConfig, RunOptions};
    use crate::train::run::{flops_per_image, model_passes, train_step, StepSettings, TrainOptions};
    use crate::train::{init_seeded, Optimizer};

    #[derive(Serialize)]
    struct Row {
        model: String,
        batch: usize,
        threads: usize,
        passes: usize,
        train_images_per_s: f64,
        /// Training FLOPs per second: 3 × the forward FLOPs of all passes (forward, and the two
        /// products of the backward pass) × images/s.
        train_gflops: f64,
        forward_images_per_s: f64,
        train_steps_timed: usize,
    }

    /// One model with its optimiser and a fixed synthetic batch.
    struct Bench {
        name: String,
        model: Model,
        optimizer: Optimizer,
        settings: StepSettings,
        x: Tensor,
        labels: Vec<u32>,
    }

    impl Bench {
        fn new(name: &str, cfg: &ModelConfig, batch: usize) -> anyhow::Result<Self> {
            let opts = TrainOptions::default(); // SGD Nesterov, weight decay, label smoothing, clipping
            let (model, varmap) = init_seeded(cfg, 0, &Device::Cpu)?;
            let optimizer = Optimizer::new(opts.optimizer, opts.weight_decay, &varmap.data().lock().expect("varmap lock"));
            let [h, w] = cfg.input.size;
            let x = Tensor::randn(0f32, 1.0, (batch, cfg.input.channels, h, w), &Device::Cpu)?;
            let labels = (0..batch).map(|i| (i % cfg.num_classes()) as u32).collect();
            Ok(Bench { name: name.into(), model, optimizer, settings: StepSettings::new(cfg, &opts), x, labels })
        }

        /// Seconds for one training step (a small constant learning rate: the speed does not depend on it).
        fn step(&mut self) -> anyhow::Result<f64> {
            let t = Instant::now();
            let r = train_step(&self.model, &mut self.optimizer, &self.x, &self.labels, &self.settings, 1e-3)?;
            anyhow::ensure!(r.loss.is_finite(), "{}: the loss became {}", self.name, r.loss);
            Ok(t.elapsed().as_secs_f64())
        }

        /// Seconds for the eval-mode forward of all passes.
        fn forward(&self) -> anyhow::Result<f64> {
            let t = Instant::now();
            let run = RunOptions { passes: self.settings.passes, alphas: None, train: false, final_maps: false, keep: None };
            let out = self.model.run(&self.x, &run)?;
            out.last().map(|o| o.logits.sum_all()).transpose()?; // force the result
            Ok(t.elapsed().as_secs_f64())
        }
    }

    /// The models take turns (one step each, round after round) so that a change in the machine's
    /// load hits all of them alike; medians over `rounds` steps after `warmup` untimed ones.
    pub fn run(
        configs: &[(String, ModelConfig)],
        batches: &[usize],
        rounds: usize,
        warmup: usize,
        json: Option<&Path>,
    ) -> anyhow::Result<()> {
        crate::train::tune_allocator(); // as `gattanet train` does
        let threads = candle_core::utils::get_num_threads();
        println!("training step and eval forward on synthetic batches, candle CPU, {threads} thread(s); medians of {rounds} rounds after {warmup} warm-up steps");
        println!(
            "{:<20} {:>5} {:>6} {:>12} {:>12} {:>13} {:>14}",
            "model", "batch", "passes", "train img/s", "ms/step", "train GFLOP/s", "forward img/s"
        );
        let mut rows = Vec::new();
        for &batch in batches {
            let mut benches = configs.iter().map(|(n, c)| Bench::new(n, c, batch)).collect::<anyhow::Result<Vec<_>>>()?;
            let mut times = vec![(Vec::new(), Vec::new()); benches.len()];
            for b in benches.iter_mut() {
                for _ in 0..warmup {
                    b.step()?;
                }
                b.forward()?;
            }
            for _ in 0..rounds.max(1) {
                for (b, (tt, tf)) in benches.iter_mut().zip(times.iter_mut()) {
                    tt.push(b.step()?);
                    tf.push(b.forward()?);
                }
            }
            for ((b, (mut tt, mut tf)), (_, cfg)) in benches.iter().zip(times).zip(configs) {
                let (st, sf) = (median(&mut tt), median(&mut tf));
                let row = Row {
                    model: b.name.clone(),
                    batch,
                    threads,
                    passes: model_passes(cfg),
                    train_images_per_s: batch as f64 / st,
                    train_gflops: 3.0 * flops_per_image(&b.model, model_passes(cfg)) as f64 * batch as f64 / st / 1e9,
                    forward_images_per_s: batch as f64 / sf,
                    train_steps_timed: tt.len(),
                };
                println!(
                    "{:<20} {:>5} {:>6} {:>12.1} {:>12.1} {:>13.1} {:>14.1}",
                    row.model,
                    batch,
                    row.passes,
                    row.train_images_per_s,
                    st * 1e3,
                    row.train_gflops,
                    row.forward_images_per_s
                );
                rows.push(row);
            }
        }
        if let Some(path) = json {
            std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
        }
        Ok(())
    }
}

/// `--backend gpu`: the WebGPU engine next to candle on the same weights and input.
mod gpu {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use candle_core::Device;

    use super::median;
    use crate::gpu::{DeviceOptions, Engine, TimingSource};
    use crate::inspect::{inspect, InspectOptions};
    use crate::model::{io, ModelConfig};

    pub fn run(configs: &[(String, ModelConfig)], rounds: usize, peak_gflops: Option<f64>) -> anyhow::Result<()> {
        // Any adapter, software ones included: the bench is also the correctness smoke test on CI.
        let opts = DeviceOptions { allow_software: true, ..Default::default() };
        let mut first = true;
        for (name, cfg) in configs {
            let (_, varmap) = io::init(cfg, &Device::Cpu)?;
            let bytes = io::to_safetensors(&io::varmap_tensors(&varmap), io::Storage::F32)?;
            let model = io::from_bytes(cfg, &bytes, &Device::Cpu)?;
            let t0 = Instant::now();
            let engine = pollster::block_on(Engine::new(cfg, &bytes, &opts))?;
            let load = t0.elapsed().as_secs_f64();
            if first {
                first = false;
                let a = engine.adapter();
                println!("WebGPU engine on {a}");
                if a.software {
                    println!("NOTE: {} is a software adapter (CPU-emulated GPU): these numbers check correctness and relative kernel cost only; they say nothing about GPU speed.", a.name);
                }
                println!(
                    "per-kernel times: {}",
                    if a.timestamps {
                        "GPU timestamp queries, one compute pass per kernel"
                    } else {
                        "wall time around submit -> completion of each kernel alone"
                    }
                );
            }
            let [h, w] = cfg.input.size;
            let x = candle_core::Tensor::randn(0f32, 1.0, (cfg.input.channels * h * w,), &Device::Cpu)?.to_vec1::<f32>()?;
            let o = InspectOptions { alpha_scale: 1.0, ..Default::default() };
            // parity of this run, so a fast-but-wrong engine cannot hide
            let cpu_res = inspect(&model, &x, &o)?;
            let gpu_res = engine.inspect_blocking(&x, &o)?;
            let (c, g) = (&cpu_res.passes.last().unwrap().logits, &gpu_res.passes.last().unwrap().logits);
            let scale = c.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            let err = c.iter().zip(g).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
            let passes = gpu_res.passes.len();

            let (mut tg, mut tc) = (Vec::new(), Vec::new());
            let start = Instant::now();
            while tg.len() < rounds.max(3) || (start.elapsed().as_secs_f64() < 2.0 && tg.len() < 100) {
                let t = Instant::now();
                engine.inspect_blocking(&x, &o)?;
                tg.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                inspect(&model, &x, &o)?;
                tc.push(t.elapsed().as_secs_f64());
            }
            let (tg, tc) = (median(&mut tg), median(&mut tc));
            let (source, timings) = pollster::block_on(engine.profile(&x, 1))?;

            println!();
            println!(
                "{name} at {}×{}: {} pipelines (created at load), {} launches per pass, T = {passes}, load {:.0} ms",
                h,
                w,
                engine.pipeline_count(),
                engine.launches_per_pass(),
                load * 1e3
            );
            let share = |f: u64, s: f64| peak_gflops.map_or(String::new(), |p| format!(" {:>7.1}%", 100.0 * gflops(f, s) / p));
            let peak_head = if peak_gflops.is_some() { "  of peak" } else { "" };
            println!("  {:<20} {:>8} {:>10} {:>10} {:>9}{peak_head}", "kernel", "launches", "MFLOP", "ms", "GFLOP/s");
            let mut by_kernel: BTreeMap<&str, (usize, u64, f64)> = BTreeMap::new();
            for t in &timings {
                let e = by_kernel.entry(t.kernel).or_default();
                e.0 += 1;
                e.1 += t.flops;
                e.2 += t.seconds;
            }
            let mut rows: Vec<_> = by_kernel.into_iter().collect();
            rows.sort_by(|a, b| b.1 .2.total_cmp(&a.1 .2));
            let (mut flops, mut secs) = (0u64, 0f64);
            for (k, (n, f, s)) in &rows {
                flops += f;
                secs += s;
                println!("  {:<20} {:>8} {:>10.3} {:>10.3} {:>9.2}{}", k, n, *f as f64 / 1e6, s * 1e3, gflops(*f, *s), share(*f, *s));
            }
            println!(
                "  {:<20} {:>8} {:>10.3} {:>10.3} {:>9.2}{}",
                "one pass (sum)",
                timings.len(),
                flops as f64 / 1e6,
                secs * 1e3,
                gflops(flops, secs),
                share(flops, secs)
            );
            // The yardstick: the convolution kernels together (1x1, 3x3 GEMM, depthwise).
            let conv: Vec<_> = timings.iter().filter(|t| t.kernel.starts_with("conv") || t.kernel == "depthwise3x3").collect();
            let (cf, cs) = conv.iter().fold((0u64, 0f64), |(f, s), t| (f + t.flops, s + t.seconds));
            if cs > 0.0 {
                println!(
                    "  {:<20} {:>8} {:>10.3} {:>10.3} {:>9.2}{}",
                    "conv kernels",
                    conv.len(),
                    cf as f64 / 1e6,
                    cs * 1e3,
                    gflops(cf, cs),
                    share(cf, cs)
                );
            }
            let slowest = timings.iter().max_by(|a, b| a.seconds.total_cmp(&b.seconds));
            if let Some(s) = slowest {
                println!("  slowest launch: {} {:.3} ms, {:.2} GFLOP/s", s.label, s.seconds * 1e3, gflops(s.flops, s.seconds));
            }
            if source == TimingSource::WallClock {
                println!("  (wall-clock per kernel includes submit + wait overhead)");
            }
            let (weights, activations, params) = engine.memory();
            println!(
                "  GPU memory (all allocated at load): weights {:.2} MB, activations and scratch {:.2} MB, launch parameters {:.1} KB",
                weights as f64 / 1e6,
                activations as f64 / 1e6,
                params as f64 / 1e3
            );
            println!(
                "  full inspection (T = {passes}, submit -> readback): GPU {:.2} ms | CPU candle ({} threads) {:.2} ms | GPU/CPU {:.2}x | logits max rel diff {:.1e}",
                tg * 1e3,
                candle_core::utils::get_num_threads(),
                tc * 1e3,
                tg / tc,
                err
            );
        }
        Ok(())
    }

    fn gflops(flops: u64, secs: f64) -> f64 {
        if secs > 0.0 {
            flops as f64 / secs / 1e9
        } else {
            0.0
        }
    }
}

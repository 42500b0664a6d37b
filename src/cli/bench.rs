//! `gattanet bench`: forward time per pass and GFLOP/s of each backbone on the CPU, with and
//! without GAttANet, measured interleaved in the same process so the ratio is fair.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use candle_core::{Device, Tensor};

use crate::model::{io, Model, ModelConfig, RunOptions};

/// The configs benchmarked when none are given: one per backbone.
const BUILTIN: [(&str, &str); 3] = [
    ("toy", include_str!("../../configs/toy-gattanet.json")),
    ("resnet20", include_str!("../../configs/resnet20-gattanet.json")),
    ("patchconv", include_str!("../../configs/patchconv-gattanet.json")),
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
    /// Backend: only `cpu` until the WebGPU engine lands.
    #[arg(long, default_value = "cpu")]
    backend: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.backend == "cpu", "backend `{}` is not available yet; use --backend cpu", args.backend);
    let configs: Vec<(String, ModelConfig)> = if args.config.is_empty() {
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
    };
    println!("CPU forward, candle {} thread(s); times are medians per pass", candle_core::utils::get_num_threads());
    println!(
        "{:<12} {:>5} {:>9} {:>12} {:>9} {:>12} {:>9} {:>12}",
        "backbone", "batch", "MFLOP/img", "plain ms", "GFLOP/s", "GAttANet ms", "GFLOP/s", "attn/plain"
    );
    for (name, cfg) in &configs {
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
            let plain_run = RunOptions { passes: 1, alphas: None, train: false, final_maps: false };
            let gatta_run = RunOptions { passes: att.passes, alphas: alphas.clone(), train: false, final_maps: false };
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

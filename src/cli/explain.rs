//! `gattanet explain IMAGE... --model DIR --out DIR [--class C] [--layer L]`: agreement, class
//! attention, Grad-CAM and occlusion maps of each image side by side, with their deletion and
//! insertion curves.
//!
//! `gattanet faithfulness --model DIR --data PATH [--n N] [--json FILE]`: over N test images, the
//! deletion and insertion areas under the curves of each kind of map, and of a random and a
//! centre map as baselines (mean ± sd), and a chart of the mean curves.
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::explain::{explain, Curves, ExplainOptions, Explanation, Method, Saliency};
use crate::inspect::InspectOptions;
use crate::model::{io, Model};
use crate::preprocess;
use crate::viz::{self, CurveSeries};

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// Images to explain.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Model directory (config.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Output directory: one folder per image with explain.json, a PNG per map and curves.png.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
pub struct FaithfulnessArgs {
    /// Model directory (config.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Data set (its test split is used): image folders, CIFAR-10/100 binary or IDX files.
    #[arg(long)]
    data: PathBuf,
    /// Number of test images (the first N).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Write the results as JSON here, and the mean curves as a PNG next to it.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct Common {
    /// Class to explain, by index or name (default: the prediction).
    #[arg(long)]
    class: Option<String>,
    /// Conv layer of the agreement map and Grad-CAM (default: the last attended conv layer).
    #[arg(long)]
    layer: Option<String>,
    /// Number of passes T (default: the model's).
    #[arg(long)]
    passes: Option<usize>,
    /// Occlusion grid: grid × grid patches.
    #[arg(long, default_value_t = 8)]
    grid: usize,
    /// Points of the deletion and insertion curves (plus the start).
    #[arg(long, default_value_t = 16)]
    steps: usize,
}

impl Common {
    fn options(&self, model: &Model) -> anyhow::Result<(InspectOptions, ExplainOptions)> {
        anyhow::ensure!((1..=64).contains(&self.grid), "--grid must be in 1..=64, got {}", self.grid);
        anyhow::ensure!((1..=256).contains(&self.steps), "--steps must be in 1..=256, got {}", self.steps);
        let class = match &self.class {
            None => None,
            Some(c) => Some(match c.parse::<usize>() {
                Ok(i) if i < model.config.num_classes() => i,
                _ => model.config.classes.iter().position(|n| n == c).with_context(|| {
                    format!(
                        "--class: no class `{c}` (an index below {} or one of: {})",
                        model.config.num_classes(),
                        model.config.classes.join(", ")
                    )
                })?,
            }),
        };
        let inspect = InspectOptions { passes: self.passes, ..Default::default() };
        let explain =
            ExplainOptions { class, layer: self.layer.clone(), occlusion_grid: self.grid, steps: self.steps, ..Default::default() };
        Ok((inspect, explain))
    }
}

fn load(dir: &Path) -> anyhow::Result<Model> {
    io::load_dir(dir, &candle_core::Device::Cpu).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

pub fn run_explain(args: ExplainArgs) -> anyhow::Result<()> {
    let model = load(&args.model)?;
    let (inspect, opts) = args.common.options(&model)?;
    let mut failed = 0;
    for (image, dir) in args.images.iter().zip(super::output_dirs(&args.images, &args.out)) {
        match explain_one(&model, image, &dir, &inspect, &opts) {
            Ok(e) => {
                let aucs: Vec<String> = e
                    .maps
                    .iter()
                    .zip(&e.curves)
                    .map(|(m, c)| {
                        let (d, i) = c.auc();
                        format!("{} {d:.3}/{i:.3}", m.method.name())
                    })
                    .collect();
                println!(
                    "{} -> {} ({} {:.1}%; deletion/insertion AUC: {})",
                    image.display(),
                    dir.display(),
                    e.class_name,
                    100.0 * e.probability,
                    aucs.join(", ")
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", image.display());
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {} images failed", args.images.len());
    Ok(())
}

fn explain_one(model: &Model, image: &Path, dir: &Path, inspect: &InspectOptions, opts: &ExplainOptions) -> anyhow::Result<Explanation> {
    let bytes = std::fs::read(image).map_err(|e| anyhow::anyhow!("cannot read: {e}"))?;
    let prepared = preprocess::preprocess(&bytes, &model.config.input)?;
    let e = explain(model, &prepared.input, inspect, opts)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("explain.json"), serde_json::to_string_pretty(&e)?)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    for m in &e.maps {
        let png = map_png(m, &prepared.view);
        std::fs::write(dir.join(format!("{}.png", m.method.name())), png)
            .with_context(|| format!("cannot write into {}", dir.display()))?;
    }
    let title = format!("{}: {} ({:.1}%), maps at {}", model.config.name, e.class_name, 100.0 * e.probability, e.layer);
    std::fs::write(dir.join("curves.png"), viz::deletion_insertion_png(&title, &series(&e.maps, &e.curves)))?;
    Ok(e)
}

/// The map over the model's view of the image (in grey), with a colour scale below.
fn map_png(map: &Saliency, view: &image::RgbImage) -> Vec<u8> {
    const SIDE: u32 = 256;
    let (over, legend) = viz::saliency_over(&map.values, map.grid, view, SIDE, 24);
    let mut out = image::RgbImage::from_pixel(SIDE, SIDE + 28, image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, &over, 0, 0);
    image::imageops::replace(&mut out, &legend, 0, i64::from(SIDE) + 4);
    viz::encode_png(&out)
}

fn series(maps: &[Saliency], curves: &[Curves]) -> Vec<CurveSeries> {
    maps.iter()
        .zip(curves)
        .map(|(m, c)| CurveSeries { name: m.method.name().into(), deletion: c.deletion.clone(), insertion: c.insertion.clone() })
        .collect()
}

/// Mean and sample standard deviation (as `plot::Stat` computes them).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
}

impl MeanSd {
    fn of(xs: &[f64]) -> MeanSd {
        let s = super::plot::Stat::of(xs);
        MeanSd { mean: s.mean, sd: s.sd }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodScore {
    pub method: Method,
    pub deletion: MeanSd,
    pub insertion: MeanSd,
    /// The mean curves.
    pub mean_deletion: Vec<f32>,
    pub mean_insertion: Vec<f32>,
}

/// One kind of map over the images: its areas under the curves and the curves.
struct Tally {
    method: Method,
    aucs: Vec<(f32, f32)>,
    curves: Vec<Curves>,
}

impl Tally {
    fn score(&self) -> MethodScore {
        let mean = |pick: fn(&Curves) -> &Vec<f32>| -> Vec<f32> {
            let n = self.curves.len().max(1) as f32;
            (0..self.curves.first().map_or(0, |c| pick(c).len())).map(|k| self.curves.iter().map(|c| pick(c)[k]).sum::<f32>() / n).collect()
        };
        MethodScore {
            method: self.method,
            deletion: MeanSd::of(&self.aucs.iter().map(|a| a.0 as f64).collect::<Vec<_>>()),
            insertion: MeanSd::of(&self.aucs.iter().map(|a| a.1 as f64).collect::<Vec<_>>()),
            mean_deletion: mean(|c| &c.deletion),
            mean_insertion: mean(|c| &c.insertion),
        }
    }
}

/// What `faithfulness --json` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaithfulnessReport {
    pub model: String,
    pub data: String,
    pub images: usize,
    pub layer: String,
    pub grid: usize,
    pub steps: usize,
    pub methods: Vec<MethodScore>,
}

pub fn run_faithfulness(args: FaithfulnessArgs) -> anyhow::Result<()> {
    crate::train::tune_allocator();
    let model = load(&args.model)?;
    let (inspect, mut opts) = args.common.options(&model)?;
    opts.baselines = true;
    let cfg = &model.config;
    let load =
        crate::train::data::LoadOptions { input: cfg.input.clone(), classes: Some(cfg.classes.clone()), limit: Some(args.n), threads: 0 };
    let test = crate::train::data::load(&args.data, crate::train::data::Split::Test, &load)?;
    super::train::report_skipped(&test);
    anyhow::ensure!(!test.is_empty(), "{}: no test images", args.data.display());
    let t = std::time::Instant::now();
    let mut per_method: Vec<Tally> = Vec::new();
    let mut layer = String::new();
    for i in 0..test.len() {
        let batch = crate::train::make_batch(&test, &[i], &cfg.input, crate::train::Transform::<rand::rngs::StdRng>::None);
        opts.seed = i as u64;
        let e = explain(&model, &batch.x, &inspect, &opts)?;
        layer = e.layer.clone();
        for (m, c) in e.maps.iter().zip(&e.curves) {
            let entry = match per_method.iter_mut().position(|t| t.method == m.method) {
                Some(i) => &mut per_method[i],
                None => {
                    per_method.push(Tally { method: m.method, aucs: Vec::new(), curves: Vec::new() });
                    per_method.last_mut().expect("just pushed")
                }
            };
            entry.aucs.push(c.auc());
            entry.curves.push(c.clone());
        }
        if (i + 1) % 50 == 0 || i + 1 == test.len() {
            println!("{}/{} images ({:.1} s each)", i + 1, test.len(), t.elapsed().as_secs_f64() / (i + 1) as f64);
        }
    }
    let methods: Vec<MethodScore> = per_method.iter().map(Tally::score).collect();
    println!("{} on {} test images, maps at {layer} (deletion: lower is more faithful; insertion: higher)", cfg.name, test.len());
    for m in &methods {
        println!(
            "  {:<10} deletion {:.3} ± {:.3}   insertion {:.3} ± {:.3}",
            m.method.name(),
            m.deletion.mean,
            m.deletion.sd,
            m.insertion.mean,
            m.insertion.sd
        );
    }
    if let Some(path) = &args.json {
        let report = FaithfulnessReport {
            model: cfg.name.clone(),
            data: super::data_label(&args.data, test.fingerprint()),
            images: test.len(),
            layer: layer.clone(),
            grid: args.common.grid,
            steps: args.common.steps,
            methods,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", path.display()))?;
        let series: Vec<CurveSeries> = report
            .methods
            .iter()
            .map(|m| CurveSeries { name: m.method.name().into(), deletion: m.mean_deletion.clone(), insertion: m.mean_insertion.clone() })
            .collect();
        let title = format!("{}: mean curves over {} test images", cfg.name, report.images);
        let png = path.with_extension("png");
        std::fs::write(&png, viz::deletion_insertion_png(&title, &series)).with_context(|| format!("cannot write {}", png.display()))?;
        println!("wrote {} and {}", path.display(), png.display());
    }
    Ok(())
}

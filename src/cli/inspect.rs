//! `gattanet inspect IMAGE... --model DIR --out DIR`
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::inspect::{inspect, InspectOptions};
use crate::model::{io, Model};
use crate::preprocess;

#[derive(clap::Args)]
pub struct Args {
    /// Images (PNG, JPEG, GIF, WebP, BMP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Model directory (config.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Output directory; each image gets DIR/<image stem>/.
    #[arg(long)]
    out: PathBuf,
    /// Number of passes T (default: the model's).
    #[arg(long)]
    passes: Option<usize>,
    /// Multiplies every learned α (0: compute the maps but modulate nothing).
    #[arg(long, default_value_t = 1.0)]
    alpha_scale: f32,
    /// Absolute α for one layer, e.g. --alpha conv2=0.5 (repeatable).
    #[arg(long = "alpha", value_parser = parse_override)]
    alpha_overrides: Vec<(String, f32)>,
    /// A single plain pass (the backbone alone); agreement maps are still computed.
    #[arg(long)]
    no_attention: bool,
    /// Classes listed per pass.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
}

fn parse_override(s: &str) -> Result<(String, f32), String> {
    let (name, v) = s.split_once('=').ok_or_else(|| format!("expected LAYER=VALUE, found `{s}`"))?;
    let v: f32 = v.parse().map_err(|_| format!("`{v}` is not a number"))?;
    Ok((name.to_string(), v))
}

pub fn run(args: Args) -> ExitCode {
    let model = match io::load_dir(&args.model, &candle_core::Device::Cpu) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {}: {e}", args.model.display());
            return ExitCode::from(2);
        }
    };
    let options = InspectOptions {
        passes: args.passes,
        alpha_scale: args.alpha_scale,
        alpha_overrides: args.alpha_overrides.clone(),
        attention: !args.no_attention,
        top_k: args.top_k,
    };
    let mut failed = 0;
    for (image, dir) in args.images.iter().zip(super::output_dirs(&args.images, &args.out)) {
        match inspect_one(&model, image, &dir, &options) {
            Ok(dir) => println!("{} -> {}", image.display(), dir.display()),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", image.display());
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} images failed", args.images.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn inspect_one(model: &Model, image: &Path, dir: &Path, options: &InspectOptions) -> anyhow::Result<PathBuf> {
    let bytes = std::fs::read(image).map_err(|e| anyhow::anyhow!("cannot read: {e}"))?;
    let prepared = preprocess::preprocess(&bytes, &model.config.input)?;
    let result = inspect(model, &prepared.input, options)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(&result)?;
    std::fs::write(dir.join("inspection.json"), json).with_context(|| format!("cannot write into {}", dir.display()))?;
    crate::cli::render::write_pngs(dir, &result, &prepared.view)?;
    Ok(dir.to_path_buf())
}

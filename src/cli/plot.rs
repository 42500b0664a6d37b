//! `gattanet plot-noise EVAL.json... --out PNG`: several models' noise curves in one chart (the
//! paper's Fig. 2a), from the JSON files `gattanet eval --json` wrote, without evaluating again.
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

#[derive(clap::Args)]
pub struct Args {
    /// eval.json files (from `gattanet eval --json`), one curve each.
    #[arg(required = true)]
    evals: Vec<PathBuf>,
    /// PNG to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Deserialize)]
struct Eval {
    model: String,
    noise: Vec<Point>,
}

#[derive(Deserialize)]
struct Point {
    sigma: f32,
    accuracy: f32,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let series = args
        .evals
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let eval: Eval = serde_json::from_str(&text)
                .with_context(|| format!("{}: not an eval report (expected {{\"model\", \"noise\": [{{\"sigma\", \"accuracy\"}}]}})", path.display()))?;
            anyhow::ensure!(eval.noise.iter().any(|p| p.sigma > 0.0), "{}: no noise level above 0 to plot", path.display());
            Ok((eval.model, eval.noise.iter().map(|p| (p.sigma, p.accuracy)).collect()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::write(&args.out, crate::viz::charts::noise_curve_png(&series)).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("wrote {} ({} curves)", args.out.display(), series.len());
    Ok(())
}

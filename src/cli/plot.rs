//! `gattanet plot-noise EVAL.json... --out PNG`: several models' noise curves in one chart (the
//! paper's Fig. 2a), from the JSON files `gattanet eval --json` wrote, without evaluating again.
//! Reports of the same model (runs with different seeds) are pooled: one line through the mean
//! with a band from the worst to the best run, and a table of mean ± standard deviation.
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::viz::charts::{NoisePoint, NoiseSeries};

#[derive(clap::Args)]
pub struct Args {
    /// eval.json files (from `gattanet eval --json`); reports with the same model name are
    /// runs of one model (seeds) and make one curve.
    #[arg(required = true)]
    evals: Vec<PathBuf>,
    /// PNG to write.
    #[arg(long)]
    out: PathBuf,
}

/// A report of `gattanet eval --json`.
type Eval = super::eval::Report;

/// Mean, sample standard deviation (0 for one run) and range of one figure over runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Stat { mean, sd: var.sqrt(), min, max }
    }

    /// "0.8500" for one run, "0.8473 ± 0.0031" for several.
    fn show(&self, runs: usize) -> String {
        if runs > 1 {
            format!("{:.4} ± {:.4}", self.mean, self.sd)
        } else {
            format!("{:.4}", self.mean)
        }
    }
}

/// One model pooled over its runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    pub model: String,
    pub runs: usize,
    pub accuracy: Stat,
    /// The first pass alone, for models with more than one pass.
    pub first_pass: Option<Stat>,
    pub noise: Vec<(f32, Stat)>,
}

fn pool(model: String, runs: &[(&Path, Eval)]) -> anyhow::Result<Pooled> {
    let (first_path, first) = &runs[0];
    let sigmas: Vec<f32> = first.noise.iter().map(|p| p.sigma).collect();
    for (path, e) in runs {
        let theirs: Vec<f32> = e.noise.iter().map(|p| p.sigma).collect();
        anyhow::ensure!(
            theirs == sigmas,
            "{} and {} are runs of {model} at different noise levels ({theirs:?} vs {sigmas:?}): evaluate them alike",
            path.display(),
            first_path.display()
        );
    }
    let stat = |f: &dyn Fn(&Eval) -> f64| Stat::of(&runs.iter().map(|(_, e)| f(e)).collect::<Vec<_>>());
    let multi_pass = runs.iter().all(|(_, e)| e.per_pass.len() > 1);
    Ok(Pooled {
        runs: runs.len(),
        accuracy: stat(&|e| e.accuracy),
        first_pass: multi_pass.then(|| stat(&|e| e.per_pass[0])),
        noise: sigmas.iter().enumerate().map(|(i, &s)| (s, stat(&|e| e.noise[i].accuracy))).collect(),
        model,
    })
}

/// Group reports by model name (in order of first appearance) and pool each group.
pub fn pool_reports(paths: &[PathBuf]) -> anyhow::Result<Vec<Pooled>> {
    let mut groups: Vec<(String, Vec<(&Path, Eval)>)> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let eval: Eval = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not an eval report (expected {{\"model\", \"accuracy\", \"noise\": [{{\"sigma\", \"accuracy\"}}]}})",
                path.display()
            )
        })?;
        anyhow::ensure!(eval.noise.iter().any(|p| p.sigma > 0.0), "{}: no noise level above 0 to plot", path.display());
        match groups.iter_mut().find(|(m, _)| *m == eval.model) {
            Some((_, runs)) => runs.push((path, eval)),
            None => groups.push((eval.model.clone(), vec![(path, eval)])),
        }
    }
    groups.into_iter().map(|(model, runs)| pool(model, &runs)).collect()
}

/// A Markdown table: one row per model, clean accuracy and each noise level.
pub fn table(pooled: &[Pooled]) -> String {
    let mut sigmas: Vec<f32> = pooled.iter().flat_map(|p| p.noise.iter().map(|(s, _)| *s)).filter(|s| *s > 0.0).collect();
    sigmas.sort_by(f32::total_cmp);
    sigmas.dedup();
    let mut out = String::from("| model | runs | accuracy | first pass alone |");
    sigmas.iter().for_each(|s| out.push_str(&format!(" σ {s} |")));
    out.push_str(&format!("\n|---|---|---|---|{}\n", "---|".repeat(sigmas.len())));
    for p in pooled {
        let first = p.first_pass.map(|s| s.show(p.runs)).unwrap_or_default();
        out.push_str(&format!("| {} | {} | {} | {first} |", p.model, p.runs, p.accuracy.show(p.runs)));
        for s in &sigmas {
            let cell = p.noise.iter().find(|(t, _)| t == s).map(|(_, st)| st.show(p.runs)).unwrap_or_default();
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let pooled = pool_reports(&args.evals)?;
    let series: Vec<NoiseSeries> = pooled
        .iter()
        .map(|p| NoiseSeries {
            name: if p.runs > 1 { format!("{} ({} runs)", p.model, p.runs) } else { p.model.clone() },
            points: p
                .noise
                .iter()
                .map(|(s, st)| NoisePoint { sigma: *s, accuracy: st.mean as f32, lo: st.min as f32, hi: st.max as f32 })
                .collect(),
        })
        .collect();
    std::fs::write(&args.out, crate::viz::charts::noise_curve_png(&series))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    print!("{}", table(&pooled));
    let plural = |n: usize, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    println!("wrote {} ({} from {})", args.out.display(), plural(series.len(), "curve"), plural(args.evals.len(), "report"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_mean_sample_sd_and_range() {
        // 0.80, 0.82, 0.84: mean 0.82, deviations ±0.02 → variance 0.0008 / 2 = 0.0004, sd 0.02.
        let s = Stat::of(&[0.82, 0.80, 0.84]);
        assert!((s.mean - 0.82).abs() < 1e-12 && (s.sd - 0.02).abs() < 1e-12, "{s:?}");
        assert_eq!((s.min, s.max), (0.80, 0.84));
        assert_eq!(Stat::of(&[0.5]), Stat { mean: 0.5, sd: 0.0, min: 0.5, max: 0.5 });
        assert_eq!(Stat::of(&[0.82, 0.80, 0.84]).show(3), "0.8200 ± 0.0200");
        assert_eq!(Stat::of(&[0.85]).show(1), "0.8500");
    }
}

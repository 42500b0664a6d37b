//! `inspect(model, input, options) -> Inspection`: runs the passes on one image and collects
//! everything the views need. The CLI, the page and the GPU parity tests all go through here.
mod types;

pub use types::*;

use candle_core::{Tensor, D};

use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig, RunOptions, SiteInfo, MAX_PASSES};

/// The α actually used per attended layer (given as (name, learned α)): the override, or
/// learned × scale; 0 without attention. Shared by both executors.
pub fn used_alphas(learned: &[(&str, f32)], options: &InspectOptions) -> Result<Vec<LayerAlpha>> {
    if !options.alpha_scale.is_finite() {
        return Err(Error::config("alpha_scale", "must be finite"));
    }
    for (name, a) in &options.alpha_overrides {
        if !learned.iter().any(|(n, _)| n == name) {
            let names: Vec<_> = learned.iter().map(|(n, _)| *n).collect();
            return Err(Error::config("alpha_overrides", format!("no attended layer `{name}` (attended: {})", names.join(", "))));
        }
        if !a.is_finite() {
            return Err(Error::config("alpha_overrides", format!("α for `{name}` must be finite, got {a}")));
        }
    }
    Ok(learned
        .iter()
        .map(|&(name, learned)| {
            let over = options.alpha_overrides.iter().find(|(n, _)| n == name).map(|(_, a)| *a);
            let used = if !options.attention { 0.0 } else { over.unwrap_or(learned * options.alpha_scale) };
            LayerAlpha { name: name.to_string(), learned, used }
        })
        .collect())
}

/// The number of passes to run: the options' (or the model's configured T), checked; 1 without
/// attention. Shared by both executors.
pub fn checked_passes(cfg: &ModelConfig, options: &InspectOptions) -> Result<usize> {
    let configured = cfg.attention.as_ref().map_or(1, |a| a.passes);
    let passes = if options.attention { options.passes.unwrap_or(configured) } else { 1 };
    if passes == 0 || passes > MAX_PASSES {
        return Err(Error::config("passes", format!("must be in 1..={MAX_PASSES}, found {passes}")));
    }
    Ok(passes)
}

/// How an inspection with these options runs the passes (their number, the α used), and the α
/// per layer it reports. Shared with the explanations, which must run the same network.
pub fn run_options(model: &Model, options: &InspectOptions) -> Result<(RunOptions, Vec<LayerAlpha>)> {
    let passes = checked_passes(&model.config, options)?;
    let learned = model.learned_alphas()?;
    let sites: Vec<(&str, f32)> = model.attended_sites().iter().map(|s| s.name.as_str()).zip(learned).collect();
    let alphas = used_alphas(&sites, options)?;
    let run = RunOptions { passes, alphas: Some(alphas.iter().map(|a| a.used).collect()), train: false, final_maps: true, keep: None };
    Ok((run, alphas))
}

/// Run the passes on one preprocessed input (CHW, normalised, at the model's input size).
pub fn inspect(model: &Model, input_chw: &[f32], options: &InspectOptions) -> Result<Inspection> {
    let cfg = &model.config;
    let [h, w] = cfg.input.size;
    let expected = cfg.input.channels * h * w;
    if input_chw.len() != expected {
        return Err(Error::image(format!("input has {} values, the model expects {expected}", input_chw.len())));
    }
    let (run, alphas) = run_options(model, options)?;
    let passes = run.passes;
    let outputs = model.run(&model.input_tensor(input_chw)?, &run)?;

    let mut result = Vec::with_capacity(outputs.len());
    for (index, out) in outputs.iter().enumerate() {
        let logits = out.logits.squeeze(0)?;
        let probabilities = candle_nn::ops::softmax(&logits, D::Minus1)?.to_vec1::<f32>()?;
        let layers = model
            .attended_sites()
            .iter()
            .enumerate()
            .map(|(l, site)| {
                let agreement = first(&out.agreement[l])?;
                let gain = match &out.gains {
                    Some(g) => first(&g[l])?,
                    None => vec![1.0; agreement.len()],
                };
                Ok(LayerMaps::new(site, agreement, gain))
            })
            .collect::<Result<Vec<_>>>()?;
        let aggregation = match &out.class_attention {
            Some(a) => Some(Aggregation::from_rows(a.squeeze(0)?.to_vec2::<f32>()?, model.graph().features)),
            None => None,
        };
        let global_query = match &out.query {
            Some(q) => first(q)?,
            None => Vec::new(),
        };
        let pass = Pass::new(index, logits.to_vec1()?, probabilities, global_query, layers, aggregation);
        result.push(pass.with_top(&cfg.classes, options.top_k));
    }
    Inspection::new(cfg, options, passes, alphas, result)
}

/// The first batch element, flattened.
fn first(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.get(0)?.flatten_all()?.to_vec1()?)
}

pub fn top_k(p: &[f32], classes: &[String], k: usize) -> Vec<TopClass> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    idx.into_iter().take(k.max(1)).map(|i| TopClass { class: classes[i].clone(), index: i, p: p[i] }).collect()
}

// Both executors (candle here, wgpu in `gpu::engine`) build the result through these, so the two
// cannot disagree on shapes, the self-weight split or the top-k order.

impl LayerMaps {
    pub(crate) fn new(site: &SiteInfo, agreement: Vec<f32>, gain: Vec<f32>) -> LayerMaps {
        let (kind, shape) = match site.spatial {
            Some([h, w]) => (LayerKind::Conv, vec![h, w]),
            None => (LayerKind::Dense, vec![site.channels]),
        };
        LayerMaps { name: site.name.clone(), kind, shape, agreement, gain }
    }
}

impl Aggregation {
    /// Split class-attention rows (per head: the class token's weight on itself, then on each
    /// patch of the feature grid) into the patch weights and the self weight.
    pub(crate) fn from_rows(rows: Vec<Vec<f32>>, [_, h, w]: [usize; 3]) -> Aggregation {
        Aggregation {
            heads: rows.len(),
            grid: [h, w],
            self_weight: rows.iter().map(|r| r[0]).collect(),
            weights: rows.into_iter().map(|r| r[1..].to_vec()).collect(),
        }
    }
}

impl Pass {
    pub(crate) fn new(
        index: usize,
        logits: Vec<f32>,
        probabilities: Vec<f32>,
        global_query: Vec<f32>,
        layers: Vec<LayerMaps>,
        aggregation: Option<Aggregation>,
    ) -> Pass {
        Pass { index, logits, probabilities, top: Vec::new(), global_query, layers, aggregation }
    }

    /// Fill `top` with the k most probable classes.
    pub(crate) fn with_top(mut self, classes: &[String], k: usize) -> Pass {
        self.top = top_k(&self.probabilities, classes, k);
        self
    }
}

impl Inspection {
    /// The result of the passes; an error where a number is not finite (NaN or ±∞, e.g. from an
    /// extreme α over many passes), which no view could show.
    pub(crate) fn new(
        cfg: &ModelConfig,
        options: &InspectOptions,
        passes: usize,
        alphas: Vec<LayerAlpha>,
        result: Vec<Pass>,
    ) -> Result<Inspection> {
        for pass in &result {
            let layer = pass.layers.iter().find(|l| !l.agreement.iter().chain(&l.gain).all(|v| v.is_finite()));
            let what = match layer {
                _ if !pass.logits.iter().chain(&pass.probabilities).chain(&pass.global_query).all(|v| v.is_finite()) => {
                    Some("the logits".to_string())
                }
                Some(l) => Some(format!("the agreement of `{}`", l.name)),
                None => None,
            };
            if let Some(what) = what {
                return Err(Error::NotFinite(format!(
                    "pass {} gave {what} that are not finite numbers; lower the attention strength or the number of passes",
                    pass.index
                )));
            }
        }
        Ok(Inspection {
            model: cfg.name.clone(),
            classes: cfg.classes.clone(),
            input_size: cfg.input.size,
            options: InspectOptions { passes: Some(passes), ..options.clone() },
            alphas,
            passes: result,
        })
    }
}

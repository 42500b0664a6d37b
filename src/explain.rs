//! Is attention an explanation? Saliency maps of other kinds for the same image and class,
//! side by side with GAttANet's agreement and the class attention, and a measure of how well
//! each map predicts what the network relies on.
//!
//! - **Grad-CAM** (Selvaraju et al. 2017): at a conv layer with activation A (C×h×w), the class
//!   logit's gradient averaged over positions weighs the channels, map = ReLU(Σ_c w_c A_c). The
//!   gradient is taken through every pass, so the attention loop is part of it.
//! - **Occlusion** (Zeiler & Fergus 2014): a patch of the mean colour (0 after normalisation)
//!   slid over a grid; the drop in the class probability at each position. One batch.
//! - **Deletion and insertion** (Petsiuk et al., RISE, 2018): remove the pixels a map ranks
//!   highest, a fraction at a time, and follow the class probability (a faithful map makes it
//!   fall fast: low area under the curve); or start from a blank image and insert them (a
//!   faithful map makes it rise fast: high area). Removed pixels take the mean colour too.
//!
//! The maps are small grids (the layer's resolution, or the occlusion grid); the curves rank
//! image pixels by the value of the grid cell they fall in.
use candle_core::{IndexOp, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inspect::{run_options, InspectOptions, Inspection, LayerKind};
use crate::model::{Model, RunOptions};

/// The kinds of map compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// GAttANet's agreement k · q̄ at a conv layer, in the final pass.
    Agreement,
    /// The class token's attention over the patches, mean over heads, in the final pass.
    Attention,
    #[serde(rename = "gradcam")]
    GradCam,
    Occlusion,
    /// Baselines: uniform random values, and nearness to the image centre.
    Random,
    Centre,
}

impl Method {
    pub const ALL: [Method; 6] = [Method::Agreement, Method::Attention, Method::GradCam, Method::Occlusion, Method::Random, Method::Centre];

    pub fn name(self) -> &'static str {
        match self {
            Method::Agreement => "agreement",
            Method::Attention => "attention",
            Method::GradCam => "gradcam",
            Method::Occlusion => "occlusion",
            Method::Random => "random",
            Method::Centre => "centre",
        }
    }
}

/// A saliency map: `grid` = [rows, cols] of `values` (row-major), higher = more important.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saliency {
    pub method: Method,
    pub grid: [usize; 2],
    pub values: Vec<f32>,
}

/// The class probability after removing (deletion) or adding (insertion) the top-ranked
/// pixels: `steps + 1` points from 0 % to 100 % of the pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    pub deletion: Vec<f32>,
    pub insertion: Vec<f32>,
}

impl Curves {
    /// Areas under the curves (trapezoids over [0, 1]): (deletion, insertion).
    pub fn auc(&self) -> (f32, f32) {
        (area(&self.deletion), area(&self.insertion))
    }
}

fn area(ys: &[f32]) -> f32 {
    match ys.len() {
        0 => 0.0,
        1 => ys[0],
        n => ys.windows(2).map(|w| (w[0] + w[1]) / 2.0).sum::<f32>() / (n - 1) as f32,
    }
}

/// The class probability of the final pass for each image of a batch (B·C·H·W values).
pub trait Scorer {
    /// [C, H, W] of one image.
    fn shape(&self) -> [usize; 3];
    fn score(&self, batch: &[f32]) -> Result<Vec<f32>>;
}

/// A model run as an inspection would run it (its passes and α), scoring one class.
pub struct ModelScorer<'a> {
    model: &'a Model,
    run: RunOptions,
    class: usize,
}

impl<'a> ModelScorer<'a> {
    pub fn new(model: &'a Model, options: &InspectOptions, class: usize) -> Result<Self> {
        if class >= model.config.num_classes() {
            return Err(Error::config("class", format!("the model has {} classes, found {class}", model.config.num_classes())));
        }
        Ok(ModelScorer { model, run: run_options(model, options)?.0, class })
    }
}

impl Scorer for ModelScorer<'_> {
    fn shape(&self) -> [usize; 3] {
        let [h, w] = self.model.config.input.size;
        [self.model.config.input.channels, h, w]
    }

    fn score(&self, batch: &[f32]) -> Result<Vec<f32>> {
        let [c, h, w] = self.shape();
        let n = batch.len() / (c * h * w);
        let mut out = Vec::with_capacity(n);
        // A bounded batch: the activations of every pass are kept.
        for chunk in batch.chunks(SCORE_BATCH * c * h * w) {
            let x = Tensor::from_slice(chunk, (chunk.len() / (c * h * w), c, h, w), self.model.device())?;
            let last = self.model.run(&x, &self.run)?.pop().expect("at least one pass");
            let p = candle_nn::ops::softmax(&last.logits, D::Minus1)?.i((.., self.class))?;
            out.extend(p.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

/// Images per forward batch when scoring.
const SCORE_BATCH: usize = 64;

/// Grad-CAM of `class` at candidate site `site` (a conv layer) of one image (CHW).
pub fn grad_cam(model: &Model, input: &[f32], options: &InspectOptions, class: usize, site: usize) -> Result<Saliency> {
    let sites = model.graph().sites.clone();
    let info = sites.get(site).ok_or_else(|| Error::config("layer", format!("no layer {site}")))?;
    let Some([h, w]) = info.spatial else {
        return Err(Error::config("layer", format!("`{}` is a dense layer; Grad-CAM needs a conv layer", info.name)));
    };
    let run = RunOptions { keep: Some(site), ..run_options(model, options)?.0 };
    let last = model.run(&model.input_tensor(input)?, &run)?.pop().expect("at least one pass");
    let kept = last.kept.ok_or_else(|| Error::config("layer", "the layer's activation was not kept"))?;
    let grads = last.logits.i((0, class))?.backward()?;
    let grad = grads.get(kept.probe.as_tensor()).ok_or_else(|| Error::config("layer", format!("no gradient reaches `{}`", info.name)))?;
    let act = kept.act;
    let weights = grad.mean((2, 3))?; // (1, C)
    let cam = act.broadcast_mul(&weights.unsqueeze(2)?.unsqueeze(3)?)?.sum(1)?.relu()?; // (1, h, w)
    Ok(Saliency { method: Method::GradCam, grid: [h, w], values: cam.flatten_all()?.to_vec1()? })
}

/// Occlusion on a `grid`×`grid` grid: the drop in the class probability when each cell of the
/// image takes the mean colour (0 after normalisation).
pub fn occlusion(scorer: &dyn Scorer, input: &[f32], grid: usize) -> Result<Saliency> {
    let [c, h, w] = scorer.shape();
    let grid = grid.clamp(1, h.min(w));
    let mut batch = input.to_vec();
    for gy in 0..grid {
        for gx in 0..grid {
            let mut img = input.to_vec();
            for ch in 0..c {
                for y in gy * h / grid..(gy + 1) * h / grid {
                    img[(ch * h + y) * w + gx * w / grid..(ch * h + y) * w + (gx + 1) * w / grid].fill(0.0);
                }
            }
            batch.extend(img);
        }
    }
    let p = scorer.score(&batch)?;
    Ok(Saliency { method: Method::Occlusion, grid: [grid, grid], values: p[1..].iter().map(|q| p[0] - q).collect() })
}

/// The pixels of an h×w image, most important first by the map (ties: the earlier cell, then
/// the earlier pixel).
fn ranking(map: &Saliency, h: usize, w: usize) -> Vec<usize> {
    let [gh, gw] = map.grid;
    let cell = |p: usize| (p / w * gh / h) * gw + (p % w) * gw / w;
    let mut order: Vec<usize> = (0..h * w).collect();
    order.sort_by(|&a, &b| map.values[cell(b)].total_cmp(&map.values[cell(a)]).then(cell(a).cmp(&cell(b))).then(a.cmp(&b)));
    order
}

/// Deletion and insertion curves of a map for one image, `steps` + 1 points each (one batch).
pub fn curves(scorer: &dyn Scorer, input: &[f32], map: &Saliency, steps: usize) -> Result<Curves> {
    let [c, h, w] = scorer.shape();
    let order = ranking(map, h, w);
    let steps = steps.max(1);
    let mut batch = Vec::with_capacity(2 * (steps + 1) * input.len());
    for insert in [false, true] {
        for k in 0..=steps {
            let n = k * h * w / steps;
            let mut img = if insert { vec![0.0; input.len()] } else { input.to_vec() };
            for &p in &order[..n] {
                for ch in 0..c {
                    img[ch * h * w + p] = if insert { input[ch * h * w + p] } else { 0.0 };
                }
            }
            batch.extend(img);
        }
    }
    let p = scorer.score(&batch)?;
    let (deletion, insertion) = p.split_at(steps + 1);
    Ok(Curves { deletion: deletion.to_vec(), insertion: insertion.to_vec() })
}

/// A map of uniform random values on the image grid, the same for the same seed.
pub fn random_map(h: usize, w: usize, seed: u64) -> Saliency {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let values = (0..h * w)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Saliency { method: Method::Random, grid: [h, w], values }
}

/// Nearness to the image centre: the prior that the object is in the middle.
pub fn centre_map(h: usize, w: usize) -> Saliency {
    let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
    let values = (0..h * w).map(|p| -(((p / w) as f32 - cy).powi(2) + ((p % w) as f32 - cx).powi(2)).sqrt()).collect();
    Saliency { method: Method::Centre, grid: [h, w], values }
}

/// Spearman's rank correlation of two maps on the finer grid of the two (each cell takes the
/// value of the cell it falls in on the coarser one).
pub fn rank_correlation(a: &Saliency, b: &Saliency) -> f32 {
    let [h, w] = if a.grid[0] * a.grid[1] >= b.grid[0] * b.grid[1] { a.grid } else { b.grid };
    let at = |m: &Saliency, p: usize| m.values[(p / w * m.grid[0] / h) * m.grid[1] + (p % w) * m.grid[1] / w];
    let ranks = |m: &Saliency| {
        let v: Vec<f32> = (0..h * w).map(|p| at(m, p)).collect();
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0f32; v.len()];
        let mut i = 0;
        while i < idx.len() {
            // ties share their mean rank
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for &k in &idx[i..=j] {
                r[k] = (i + j) as f32 / 2.0;
            }
            i = j + 1;
        }
        r
    };
    pearson(&ranks(a), &ranks(b))
}

fn pearson(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().map(|&v| v as f64).sum::<f64>() / n, y.iter().map(|&v| v as f64).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64 - mx, b as f64 - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        (sxy / (sxx * syy).sqrt()) as f32
    }
}

/// The agreement map of attended layer `layer` (its index in each pass's `layers`, a conv
/// layer) in the final pass.
pub fn agreement_map(insp: &Inspection, layer: usize) -> Option<Saliency> {
    let l = insp.passes.last()?.layers.get(layer).filter(|l| l.kind == LayerKind::Conv)?;
    Some(Saliency { method: Method::Agreement, grid: [l.shape[0], l.shape[1]], values: l.agreement.clone() })
}

/// The class token's attention over the patches in the final pass, mean over heads.
pub fn attention_map(insp: &Inspection) -> Option<Saliency> {
    let agg = insp.passes.last()?.aggregation.as_ref()?;
    let n = agg.grid[0] * agg.grid[1];
    let values = (0..n).map(|p| agg.weights.iter().map(|w| w[p]).sum::<f32>() / agg.heads.max(1) as f32).collect();
    Some(Saliency { method: Method::Attention, grid: agg.grid, values })
}

/// Everything compared for one image: the maps, their curves and how alike they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explanation {
    pub class: usize,
    pub class_name: String,
    /// The class probability of the final pass.
    pub probability: f32,
    /// The conv layer of the agreement map and Grad-CAM.
    pub layer: String,
    pub maps: Vec<Saliency>,
    /// Deletion and insertion curves of each map, in the order of `maps`.
    pub curves: Vec<Curves>,
    /// Spearman rank correlation of every pair of maps, in the order of `maps`.
    pub correlation: Vec<Vec<f32>>,
}

/// How to explain: which class (None: the prediction), which conv layer (None: the last
/// attended one, or the last conv layer), the occlusion grid and the curves' steps.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    pub class: Option<usize>,
    pub layer: Option<String>,
    pub occlusion_grid: usize,
    pub steps: usize,
    /// Also the random and centre baselines (for the faithfulness measure).
    pub baselines: bool,
    pub seed: u64,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions { class: None, layer: None, occlusion_grid: 8, steps: 16, baselines: false, seed: 0 }
    }
}

/// The maps of every method this model has, for one preprocessed image.
pub fn explain(model: &Model, input: &[f32], inspect: &InspectOptions, opts: &ExplainOptions) -> Result<Explanation> {
    let insp = crate::inspect::inspect(model, input, inspect)?;
    let last = insp.passes.last().expect("at least one pass");
    let class = match opts.class {
        Some(c) => c,
        None => last.top.first().map_or(0, |t| t.index),
    };
    let scorer = ModelScorer::new(model, inspect, class)?;
    let graph_sites = &model.graph().sites;
    let conv_sites: Vec<usize> = (0..graph_sites.len()).filter(|&i| graph_sites[i].spatial.is_some()).collect();
    let attended: Vec<&str> = model.attended_sites().iter().filter(|s| s.spatial.is_some()).map(|s| s.name.as_str()).collect();
    let layer = match &opts.layer {
        Some(name) => name.clone(),
        None => {
            attended.last().map(|s| s.to_string()).unwrap_or_else(|| graph_sites[*conv_sites.last().expect("a conv site")].name.clone())
        }
    };
    let site = conv_sites.iter().copied().find(|&i| graph_sites[i].name == layer).ok_or_else(|| {
        let names: Vec<&str> = conv_sites.iter().map(|&i| graph_sites[i].name.as_str()).collect();
        Error::config("layer", format!("no conv layer `{layer}`; this model has: {}", names.join(", ")))
    })?;
    let mut maps = Vec::new();
    if let Some(l) = last.layers.iter().position(|l| l.name == layer) {
        maps.extend(agreement_map(&insp, l));
    }
    maps.extend(attention_map(&insp));
    maps.push(grad_cam(model, input, inspect, class, site)?);
    maps.push(occlusion(&scorer, input, opts.occlusion_grid)?);
    if opts.baselines {
        let [_, h, w] = scorer.shape();
        maps.push(random_map(h, w, opts.seed));
        maps.push(centre_map(h, w));
    }
    let curves = maps.iter().map(|m| curves(&scorer, input, m, opts.steps)).collect::<Result<Vec<_>>>()?;
    let correlation = maps.iter().map(|a| maps.iter().map(|b| rank_correlation(a, b)).collect()).collect();
    Ok(Explanation {
        class,
        class_name: model.config.classes[class].clone(),
        probability: last.probabilities[class],
        layer,
        maps,
        curves,
        correlation,
    })
}

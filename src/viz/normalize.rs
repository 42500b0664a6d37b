//! Which values a colour scale spans. Agreement is signed, so its scale is symmetric about
//! 0 (0 is always the neutral colour); attention weights are ≥ 0, so theirs starts at 0.
use crate::inspect::{Inspection, LayerKind};
use serde::{Deserialize, Serialize};

/// Over which maps the scale's maximum is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// The map alone: best contrast, but colours are not comparable between maps.
    #[default]
    PerMap,
    /// One layer (or aggregation head) across all passes: shows how a map changes per pass.
    PerLayer,
    /// All layers of the kind shown (or all heads) in one pass.
    PerPass,
    /// All layers of the kind shown (or all heads) in all passes.
    Global,
}

impl Normalization {
    /// Label for a picker.
    pub fn name(&self) -> &'static str {
        match self {
            Normalization::PerMap => "per map",
            Normalization::PerLayer => "per layer, all passes",
            Normalization::PerPass => "per pass, all layers",
            Normalization::Global => "global",
        }
    }

    pub fn all() -> &'static [Normalization] {
        &[Normalization::PerMap, Normalization::PerLayer, Normalization::PerPass, Normalization::Global]
    }
}

/// A value range [lo, hi] mapped linearly onto [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub lo: f32,
    pub hi: f32,
}

impl Range {
    /// Position of `v` in the range, clamped to [0, 1]. NaN stays NaN (the colour maps
    /// give it [`super::colormap::NAN_COLOR`]); an empty or inverted range gives 0.5.
    pub fn unit(&self, v: f32) -> f32 {
        let span = self.hi - self.lo;
        if !(span > 0.0 && span.is_finite()) {
            return if v.is_nan() { f32::NAN } else { 0.5 };
        }
        ((v - self.lo) / span).clamp(0.0, 1.0)
    }

    /// [-m, m]; m = 0 (an all-zero map) gives [-1, 1] so that zeros show as neutral.
    fn symmetric(m: f32) -> Range {
        let m = if m > 0.0 { m } else { 1.0 };
        Range { lo: -m, hi: m }
    }

    /// [0, m]; m = 0 gives [0, 1] so that zeros show as "none".
    fn from_zero(m: f32) -> Range {
        Range { lo: 0.0, hi: if m > 0.0 { m } else { 1.0 } }
    }
}

/// The scale for agreement map `layer` of pass `pass`: [-m, m] with m the largest |g| over
/// the maps that `mode` selects. Out-of-range indices select nothing and give [-1, 1].
pub fn agreement_range(insp: &Inspection, pass: usize, layer: usize, mode: Normalization) -> Range {
    let kind = insp.passes.get(pass).and_then(|p| p.layers.get(layer)).map(|l| l.kind);
    // Conv and dense agreements live on different scales, so a scale over several layers
    // only takes in layers of the kind shown.
    let same_kind = |k: LayerKind| Some(k) == kind;
    let maps: Vec<&[f32]> = insp
        .passes
        .iter()
        .enumerate()
        .filter(|(p, _)| matches!(mode, Normalization::PerLayer | Normalization::Global) || *p == pass)
        .flat_map(|(_, p)| p.layers.iter().enumerate())
        .filter(|(l, m)| match mode {
            Normalization::PerMap | Normalization::PerLayer => *l == layer,
            Normalization::PerPass | Normalization::Global => same_kind(m.kind),
        })
        .map(|(_, m)| m.agreement.as_slice())
        .collect();
    Range::symmetric(max_abs(&maps))
}

/// The scale for the class-attention weights of aggregation head `head` in pass `pass`:
/// [0, max] over that head (`PerMap`), that head in all passes (`PerLayer`), all heads of
/// the pass (`PerPass`) or all heads in all passes (`Global`).
pub fn attention_range(insp: &Inspection, pass: usize, head: usize, mode: Normalization) -> Range {
    let maps: Vec<&[f32]> = insp
        .passes
        .iter()
        .enumerate()
        .filter(|(p, _)| matches!(mode, Normalization::PerLayer | Normalization::Global) || *p == pass)
        .filter_map(|(_, p)| p.aggregation.as_ref())
        .flat_map(|a| a.weights.iter().enumerate())
        .filter(|(h, _)| matches!(mode, Normalization::PerPass | Normalization::Global) || *h == head)
        .map(|(_, w)| w.as_slice())
        .collect();
    Range::from_zero(max_abs(&maps))
}

/// One scale for the global query of every pass, [-m, m], so that the passes' queries can be
/// compared entry by entry (there is one query per pass, so no other mode applies).
pub fn global_query_range(insp: &Inspection) -> Range {
    let queries: Vec<&[f32]> = insp.passes.iter().map(|p| p.global_query.as_slice()).collect();
    Range::symmetric(max_abs(&queries))
}

/// Cosine similarity of two vectors (how far the global query turned between passes);
/// `None` when either is zero, non-finite, or their lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum::<f64>();
    let norms = (dot(a, a) * dot(b, b)).sqrt();
    let c = dot(a, b) / norms;
    (norms > 0.0 && c.is_finite()).then_some(c.clamp(-1.0, 1.0) as f32)
}

/// Largest finite |v|; 0 when there is none.
fn max_abs(maps: &[&[f32]]) -> f32 {
    maps.iter().flat_map(|m| m.iter()).filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
}

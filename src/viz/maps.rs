//! Map views: an Inspection's agreement or attention map as a coloured image.
use super::colormap::ColorMap;
use super::normalize::{agreement_range, attention_range, Normalization, Range};
use super::raster::{heatmap, Interp};
use crate::inspect::{Inspection, LayerKind};
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// How to draw a map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapView {
    pub cmap: ColorMap,
    pub norm: Normalization,
    pub interp: Interp,
    /// Pixels along the map's longer side.
    pub size: u32,
}

impl Default for MapView {
    /// Agreement defaults; attention maps want `cmap: ColorMap::Sequential`.
    fn default() -> Self {
        MapView { cmap: ColorMap::Diverging, norm: Normalization::PerMap, interp: Interp::Nearest, size: 320 }
    }
}

/// A map picked out of an Inspection, with the scale it is drawn on.
pub(crate) struct Selected<'a> {
    pub values: &'a [f32],
    pub h: usize,
    pub w: usize,
    pub range: Range,
}

impl Selected<'_> {
    /// Output size with the longer side `size` and the map's aspect ratio.
    pub fn out_size(&self, size: u32) -> (u32, u32) {
        scaled(self.w as u32, self.h as u32, size)
    }

    pub fn image(&self, view: &MapView, (w, h): (u32, u32)) -> RgbImage {
        heatmap(self.values, self.h, self.w, w, h, self.range, view.cmap, view.interp)
    }
}

/// `w`×`h` scaled so that the longer side is `size`.
pub(crate) fn scaled(w: u32, h: u32, size: u32) -> (u32, u32) {
    let long = w.max(h).max(1) as f32;
    let side = |n: u32| ((size as f32 * n as f32 / long).round() as u32).max(1);
    (side(w), side(h))
}

/// The agreement map of conv layer `layer` in pass `pass`; None for a dense layer, an index
/// out of range or a shape that is not [H, W].
pub(crate) fn select_agreement(insp: &Inspection, pass: usize, layer: usize, norm: Normalization) -> Option<Selected<'_>> {
    let l = insp.passes.get(pass)?.layers.get(layer)?;
    match (l.kind, l.shape.as_slice()) {
        (LayerKind::Conv, &[h, w]) if h > 0 && w > 0 => {
            Some(Selected { values: &l.agreement, h, w, range: agreement_range(insp, pass, layer, norm) })
        }
        _ => None,
    }
}

/// The class attention of aggregation head `head` in pass `pass`; None without one.
pub(crate) fn select_attention(insp: &Inspection, pass: usize, head: usize, norm: Normalization) -> Option<Selected<'_>> {
    let agg = insp.passes.get(pass)?.aggregation.as_ref()?;
    let [h, w] = agg.grid;
    (h > 0 && w > 0).then_some(())?;
    Some(Selected { values: agg.weights.get(head)?, h, w, range: attention_range(insp, pass, head, norm) })
}

/// Agreement map `layer` of pass `pass` as an image (see [`MapView`]); None for a dense
/// layer or an index out of range.
pub fn agreement_image(insp: &Inspection, pass: usize, layer: usize, view: &MapView) -> Option<RgbImage> {
    let sel = select_agreement(insp, pass, layer, view.norm)?;
    Some(sel.image(view, sel.out_size(view.size)))
}

/// Class-attention weights of aggregation head `head` in pass `pass` over the patch grid;
/// None when the pass has no aggregation head or the index is out of range.
pub fn attention_image(insp: &Inspection, pass: usize, head: usize, view: &MapView) -> Option<RgbImage> {
    let sel = select_attention(insp, pass, head, view.norm)?;
    Some(sel.image(view, sel.out_size(view.size)))
}

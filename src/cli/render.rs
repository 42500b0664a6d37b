//! The PNG files of one inspection (native only): what the page shows, as files.
//!
//! ```text
//! input.png                       the crop the model sees
//! passes.png, alphas.png          probabilities across passes; α per attended layer
//! pass{t}/top.png                 top-k of pass t
//! pass{t}/{layer}.png             conv: agreement map + colour bar; dense: bar chart
//! pass{t}/{layer}_overlay.png     conv: the map over the input
//! pass{t}/attention_head{h}.png   class attention per head (+ _overlay)
//! ```
use std::path::Path;

use anyhow::Context;
use image::RgbImage;

use crate::inspect::{Inspection, LayerKind};
use crate::viz::{charts, ColorMap, MapView};

const OVERLAY_OPACITY: f32 = 0.6;

pub fn write_pngs(dir: &Path, insp: &Inspection, view: &RgbImage) -> anyhow::Result<()> {
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write("input.png", &crate::viz::raster::encode_png(view))?;
    write("passes.png", &charts::top1_across_passes_png(insp))?;
    if !insp.alphas.is_empty() {
        write("alphas.png", &charts::alpha_chart_png(insp))?;
    }
    let agreement = MapView::default();
    let attention = MapView { cmap: ColorMap::Sequential, ..MapView::default() };
    let predicted = insp.prediction().map(|t| t.index);
    for (t, pass) in insp.passes.iter().enumerate() {
        let sub = format!("pass{t}");
        std::fs::create_dir_all(dir.join(&sub)).with_context(|| format!("cannot create {}", dir.join(&sub).display()))?;
        write(&format!("{sub}/top.png"), &charts::topk_chart_png(pass, insp.options.top_k))?;
        for (l, layer) in pass.layers.iter().enumerate() {
            let file = layer.name.replace('.', "_");
            match layer.kind {
                LayerKind::Conv => {
                    let png = charts::heatmap_with_legend_png(insp, t, l, &agreement).expect("conv layer has a map");
                    write(&format!("{sub}/{file}.png"), &png)?;
                    let png = charts::heatmap_overlay_png(insp, t, l, &agreement, view, OVERLAY_OPACITY).expect("conv layer");
                    write(&format!("{sub}/{file}_overlay.png"), &png)?;
                }
                LayerKind::Dense => {
                    let logits = layer.shape == [insp.classes.len()] && layer.name == "logits";
                    let names = logits.then_some(insp.classes.as_slice());
                    let png = charts::dense_agreement_chart_png(layer, names, if logits { predicted } else { None });
                    write(&format!("{sub}/{file}.png"), &png)?;
                }
            }
        }
        if let Some(agg) = &pass.aggregation {
            for h in 0..agg.heads {
                let png = charts::attention_with_legend_png(insp, t, h, &attention).expect("head exists");
                write(&format!("{sub}/attention_head{h}.png"), &png)?;
                let heat = crate::viz::attention_image(insp, t, h, &attention).expect("head exists");
                let base = image::imageops::resize(view, heat.width(), heat.height(), image::imageops::FilterType::Triangle);
                let over = crate::viz::overlay(&base, &heat, OVERLAY_OPACITY);
                write(&format!("{sub}/attention_head{h}_overlay.png"), &crate::viz::encode_png(&over))?;
            }
        }
    }
    Ok(())
}

//! Map figures for the CLI: a map (or a map over an image) beside its colour bar, with
//! tick labels and a title, as PNG.
use super::draw_on;
use super::style::{fmt_value, text_width, LABEL, PNG, TICK, TITLE};
use crate::inspect::Inspection;
use crate::viz::maps::{scaled, select_agreement, select_attention, MapView, Selected};
use crate::viz::raster::{encode_png, legend, overlay};
use image::{imageops, Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

const PAD: u32 = 20;
const GAP: u32 = 24;
const BAR: u32 = 28;
const TICK_LEN: i32 = 6;
/// Title line, subtitle line.
const HEAD: u32 = TITLE as u32 + LABEL as u32 + 36;

/// Conv agreement map `layer` of pass `pass` beside its colour bar; None for a dense
/// layer or an index out of range.
pub fn heatmap_with_legend_png(insp: &Inspection, pass: usize, layer: usize, view: &MapView) -> Option<Vec<u8>> {
    let sel = select_agreement(insp, pass, layer, view.norm)?;
    let title = agreement_title(insp, pass, layer);
    Some(figure(sel.image(view, sel.out_size(view.size)), &sel, view, &title))
}

/// The same, blended over `base` (the input image, stretched over the whole map) with
/// `opacity` in [0, 1].
pub fn heatmap_overlay_png(insp: &Inspection, pass: usize, layer: usize, view: &MapView, base: &RgbImage, opacity: f32) -> Option<Vec<u8>> {
    let sel = select_agreement(insp, pass, layer, view.norm)?;
    let size = scaled(base.width(), base.height(), view.size);
    let base = imageops::resize(base, size.0, size.1, imageops::FilterType::Triangle);
    let title = agreement_title(insp, pass, layer);
    Some(figure(overlay(&base, &sel.image(view, size), opacity), &sel, view, &title))
}

/// Class-attention weights of aggregation head `head` in pass `pass` beside its colour bar;
/// None when the pass has no aggregation head or the index is out of range.
pub fn attention_with_legend_png(insp: &Inspection, pass: usize, head: usize, view: &MapView) -> Option<Vec<u8>> {
    let sel = select_attention(insp, pass, head, view.norm)?;
    let title = format!("Class attention: head {head}, pass {pass}");
    Some(figure(sel.image(view, sel.out_size(view.size)), &sel, view, &title))
}

/// Only called once the map was found.
fn agreement_title(insp: &Inspection, pass: usize, layer: usize) -> String {
    format!("Agreement: {}, pass {pass}", insp.passes[pass].layers[layer].name)
}

fn figure(map: RgbImage, sel: &Selected, view: &MapView, title: &str) -> Vec<u8> {
    let (mw, mh) = map.dimensions();
    let r = sel.range;
    // Ticks: the ends and, on a signed scale, 0.
    let mut ticks = vec![r.lo, r.hi];
    if r.lo < 0.0 && r.hi > 0.0 {
        ticks.push(0.0);
    }
    let labels: Vec<String> = ticks.iter().map(|&v| fmt_value(v)).collect();
    let subtitle = format!("scale: {}", view.norm.name());

    let bar_x = PAD + mw + GAP;
    let tick_w = labels.iter().map(|l| text_width(l, TICK)).max().unwrap_or(0) as u32;
    let width = (bar_x + BAR + TICK_LEN as u32 + 8 + tick_w + PAD).max(text_width(title, TITLE) as u32 + 2 * PAD);
    let mut img = RgbImage::from_pixel(width, HEAD + mh + PAD, Rgb([255; 3]));
    imageops::replace(&mut img, &map, PAD.into(), HEAD.into());
    imageops::replace(&mut img, &legend(r, view.cmap, BAR, mh), bar_x.into(), HEAD.into());

    draw_on(&mut img, |root| {
        let centre = width as i32 / 2;
        root.draw_text(title, &PNG.text(TITLE, [0; 3], HPos::Center, VPos::Top), (centre, 12))?;
        root.draw_text(&subtitle, &PNG.text(LABEL, [80; 3], HPos::Center, VPos::Top), (centre, TITLE as i32 + 20))?;
        let (x0, y0, x1) = (bar_x as i32, HEAD as i32, (bar_x + BAR) as i32);
        root.draw(&Rectangle::new([(x0 - 1, y0 - 1), (x1, y0 + mh as i32)], BLACK))?;
        for (&v, label) in ticks.iter().zip(&labels) {
            let y = y0 + ((1.0 - r.unit(v)) * (mh - 1) as f32).round() as i32;
            root.draw(&PathElement::new(vec![(x1, y), (x1 + TICK_LEN, y)], BLACK))?;
            root.draw_text(label, &PNG.text(TICK, [0; 3], HPos::Left, VPos::Center), (x1 + TICK_LEN + 4, y))?;
        }
        Ok(())
    });
    encode_png(&img)
}

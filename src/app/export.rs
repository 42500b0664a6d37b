//! Leaving the page: PNG figure of the current view, inspection.json, copying the link, and the
//! camera snapshot (the one way in that needs a canvas).
use image::{imageops, RgbImage};
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, BlobPropertyBag, CanvasRenderingContext2d, HtmlAnchorElement, HtmlCanvasElement, HtmlVideoElement, ImageData, MediaStream,
    MediaStreamConstraints, Url,
};

use super::bridge::js_text;
use super::page::{Shown, ViewOpts};
use super::render::{short, signed};
use crate::inspect::{Inspection, LayerKind};
use crate::viz::{agreement_image, agreement_range, attention_image, attention_range, global_query_range, overlay, Interp, MapView};

fn document() -> Result<web_sys::Document, String> {
    web_sys::window().and_then(|w| w.document()).ok_or_else(|| "no document".to_string())
}

fn canvas(w: u32, h: u32) -> Result<(HtmlCanvasElement, CanvasRenderingContext2d), String> {
    let canvas: HtmlCanvasElement =
        document()?.create_element("canvas").map_err(|e| js_text(&e))?.dyn_into().map_err(|_| "no canvas".to_string())?;
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx: CanvasRenderingContext2d =
        canvas.get_context("2d").map_err(|e| js_text(&e))?.ok_or("no 2d context")?.dyn_into().map_err(|_| "no 2d context".to_string())?;
    Ok((canvas, ctx))
}

fn put(ctx: &CanvasRenderingContext2d, img: &RgbImage, x: f64, y: f64) -> Result<(), String> {
    let mut rgba = Vec::with_capacity(img.as_raw().len() / 3 * 4);
    for p in img.pixels() {
        rgba.extend_from_slice(&[p[0], p[1], p[2], 255]);
    }
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba[..]), img.width(), img.height()).map_err(|e| js_text(&e))?;
    ctx.put_image_data(&data, x, y).map_err(|e| js_text(&e))
}

fn download(href: &str, filename: &str) -> Result<(), String> {
    let a: HtmlAnchorElement = document()?.create_element("a").map_err(|e| js_text(&e))?.dyn_into().map_err(|_| "no anchor".to_string())?;
    a.set_href(href);
    a.set_download(filename);
    a.click();
    Ok(())
}

/// A file-name-safe version of `s`.
fn slug(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' }).collect();
    let s = s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-");
    if s.is_empty() {
        "image".into()
    } else {
        s.chars().take(40).collect()
    }
}

/// The base image of a tile: the model's view, scaled to the heat map's size.
fn base_for(view: &RgbImage, w: u32, h: u32) -> RgbImage {
    imageops::resize(view, w, h, imageops::FilterType::Nearest)
}

/// Draws the current view (every conv agreement map and class-attention head, for the passes
/// shown, overlaid on the model's view with the page's opacity, colours and normalisation)
/// into a PNG and downloads it.
pub fn figure_png(shown: &Shown, view: &ViewOpts) -> Result<(), String> {
    let insp: &Inspection = &shown.inspection;
    let n = insp.passes.len();
    let passes: Vec<usize> = if view.all_passes { (0..n).collect() } else { vec![view.pass.min(n.saturating_sub(1))] };
    let first = insp.passes.first().ok_or("no passes")?;
    let conv = insp.layers_of_kind(LayerKind::Conv);
    let heads = first.aggregation.as_ref().map_or(0, |a| a.heads);
    let interp = if view.smooth { Interp::Bilinear } else { Interp::Nearest };
    const TILE: u32 = 176;
    const GAP: f64 = 14.0;
    const LABEL_W: f64 = 170.0;
    const ROW_TEXT: f64 = 40.0;
    let row_h = f64::from(TILE) + ROW_TEXT + GAP;
    let rows = 1 + conv.len() + heads;
    let d = first.global_query.len();
    const QUERY_ROW: f64 = 70.0;
    let width = (LABEL_W + passes.len().max(1) as f64 * (f64::from(TILE) + GAP) + 20.0).max(760.0);
    let small = "14px system-ui, sans-serif";
    // The α list, wrapped to the width (measured before the figure's height is known); a
    // no-break space keeps each layer's name with its value.
    let alpha = insp.alphas.iter().map(|a| format!("{}\u{a0}{}", a.name, signed(a.used))).collect::<Vec<_>>().join(", ");
    let (_, measure) = canvas(1, 1)?;
    measure.set_font(small);
    let alpha_lines = wrap(&measure, &format!("α used: {alpha}"), width - 32.0);
    let header = 100.0 + 20.0 * alpha_lines.len() as f64;
    let height = header + 28.0 + rows as f64 * row_h + if d > 0 { QUERY_ROW } else { 0.0 } + 100.0;
    let (canvas, ctx) = canvas(width as u32, height as u32)?;
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, width, height);
    let text = |s: &str, x: f64, y: f64, font: &str, colour: &str| {
        ctx.set_font(font);
        ctx.set_fill_style_str(colour);
        let _ = ctx.fill_text(s, x, y);
    };
    let bold = "bold 24px system-ui, sans-serif";
    let normal = "16px system-ui, sans-serif";
    text(&format!("GAttANet Explorer — {}", insp.model), 16.0, 34.0, bold, "#111");
    text(&format!("Image: {}", shown.image.name()), 16.0, 62.0, normal, "#333");
    let preds: Vec<String> =
        insp.passes.iter().filter_map(|p| p.top.first().map(|t| format!("pass {}: {} {:.0}%", p.index, t.class, t.p * 100.0))).collect();
    text(&format!("Top class per pass — {}", preds.join(" · ")), 16.0, 86.0, normal, "#333");
    if !insp.alphas.is_empty() {
        for (k, line) in alpha_lines.iter().enumerate() {
            text(line, 16.0, 108.0 + 20.0 * k as f64, small, "#555");
        }
    }

    let col_x = |i: usize| LABEL_W + i as f64 * (f64::from(TILE) + GAP);
    for (i, p) in passes.iter().enumerate() {
        let label = if *p == 0 { "pass 0 · plain".to_string() } else { format!("pass {p}") };
        text(&label, col_x(i), header + 18.0, "bold 16px system-ui, sans-serif", "#111");
    }
    let mut y = header + 28.0;
    // The model's view.
    text("input", 16.0, y + 20.0, "bold 16px system-ui, sans-serif", "#111");
    text("the model's view", 16.0, y + 40.0, small, "#555");
    put(&ctx, &base_for(&shown.view_rgb, TILE, TILE), col_x(0), y)?;
    y += row_h;
    // The global query of each pass: one cell per entry, one scale for all passes (as on the page).
    if d > 0 {
        let r = global_query_range(insp);
        text("global query q̄", 16.0, y + 18.0, "bold 16px system-ui, sans-serif", "#111");
        text(&format!("{d} numbers,"), 16.0, y + 38.0, small, "#555");
        text(&format!("scale ±{}", short(r.hi)), 16.0, y + 56.0, small, "#555");
        for (i, &p) in passes.iter().enumerate() {
            let q = &insp.passes[p].global_query;
            let cell = |x: u32| (x as usize * d) / TILE as usize;
            let strip = RgbImage::from_fn(TILE, 28, |x, _| {
                let k = cell(x);
                if x > 0 && cell(x - 1) != k {
                    image::Rgb([255, 255, 255])
                } else {
                    image::Rgb(view.cmap.rgb(r.unit(q.get(k).copied().unwrap_or(f32::NAN))))
                }
            });
            put(&ctx, &strip, col_x(i), y + 4.0)?;
        }
        y += QUERY_ROW;
    }
    let mv = MapView { cmap: view.cmap, norm: view.norm, interp, size: TILE };
    for &l in &conv {
        let name = &first.layers[l].name;
        text(name, 16.0, y + 20.0, "bold 16px system-ui, sans-serif", "#111");
        text("agreement g", 16.0, y + 40.0, small, "#555");
        for (i, &p) in passes.iter().enumerate() {
            if let Some(heat) = agreement_image(insp, p, l, &mv) {
                let base = base_for(&shown.view_rgb, heat.width(), heat.height());
                put(&ctx, &overlay(&base, &heat, view.opacity), col_x(i), y)?;
                let r = agreement_range(insp, p, l, view.norm);
                colour_bar(&ctx, view.cmap, col_x(i), y + f64::from(TILE) + 6.0, f64::from(TILE))?;
                text(&signed(r.lo), col_x(i), y + f64::from(TILE) + 30.0, small, "#333");
                ctx.set_text_align("right");
                text(&signed(r.hi), col_x(i) + f64::from(TILE), y + f64::from(TILE) + 30.0, small, "#333");
                ctx.set_text_align("center");
                text("0", col_x(i) + f64::from(TILE) / 2.0, y + f64::from(TILE) + 30.0, small, "#333");
                ctx.set_text_align("left");
            }
        }
        y += row_h;
    }
    let amv = MapView { cmap: view.acmap, ..mv };
    for h in 0..heads {
        text(&format!("head {}", h + 1), 16.0, y + 20.0, "bold 16px system-ui, sans-serif", "#111");
        text("class token's", 16.0, y + 40.0, small, "#555");
        text("attention weight", 16.0, y + 58.0, small, "#555");
        for (i, &p) in passes.iter().enumerate() {
            if let Some(heat) = attention_image(insp, p, h, &amv) {
                let base = base_for(&shown.view_rgb, heat.width(), heat.height());
                put(&ctx, &overlay(&base, &heat, view.opacity), col_x(i), y)?;
                let r = attention_range(insp, p, h, view.norm);
                colour_bar(&ctx, view.acmap, col_x(i), y + f64::from(TILE) + 6.0, f64::from(TILE))?;
                text("0", col_x(i), y + f64::from(TILE) + 30.0, small, "#333");
                ctx.set_text_align("right");
                text(&short(r.hi), col_x(i) + f64::from(TILE), y + f64::from(TILE) + 30.0, small, "#333");
                ctx.set_text_align("left");
            }
        }
        y += row_h;
    }
    let notes = format!(
        "Normalisation: {}. Overlay opacity {:.0}%. Agreement g = key · global query: red = agrees with what the \
         whole network is looking for, blue = disagrees, white = 0. Attention maps show what the mechanism \
         computed, not why the network decided. Made in the browser; the image never left the device.",
        view.norm.name(),
        view.opacity * 100.0
    );
    ctx.set_font(small);
    ctx.set_fill_style_str("#333");
    let mut line_y = y + 14.0;
    for line in wrap(&ctx, &notes, width - 32.0) {
        let _ = ctx.fill_text(&line, 16.0, line_y);
        line_y += 20.0;
    }
    let url = canvas.to_data_url().map_err(|e| js_text(&e))?;
    download(&url, &format!("gattanet-{}-{}.png", slug(&insp.model), slug(&shown.image.name())))
}

/// `text` broken into lines no wider than `max` pixels in the context's current font.
fn wrap(ctx: &CanvasRenderingContext2d, text: &str, max: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    // Breaks at plain spaces only, so a no-break space holds its two words together.
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        let w = ctx.measure_text(&candidate).map(|m| m.width()).unwrap_or(0.0);
        if w > max && !line.is_empty() {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A horizontal colour bar of `cmap`, `w` wide and 8 px high.
fn colour_bar(ctx: &CanvasRenderingContext2d, cmap: crate::viz::ColorMap, x: f64, y: f64, w: f64) -> Result<(), String> {
    let n = w.max(1.0) as u32;
    let img = RgbImage::from_fn(n, 8, |i, _| image::Rgb(cmap.rgb((i as f32 + 0.5) / n as f32)));
    put(ctx, &img, x, y)
}

/// Saves the Inspection as `inspection.json` (the CLI's schema: serde of `Inspection`).
pub fn inspection_json(insp: &Inspection) -> Result<(), String> {
    json_file(insp, "inspection.json")
}

/// The comparison of maps as `explain.json`, the file `gattanet explain` writes.
pub fn explanation_json(e: &crate::explain::Explanation) -> Result<(), String> {
    json_file(e, "explain.json")
}

fn json_file(value: &impl serde::Serialize, filename: &str) -> Result<(), String> {
    let json = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    let parts = Array::of1(&JsValue::from_str(&json));
    let opts = BlobPropertyBag::new();
    opts.set_type("application/json");
    let blob = Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(|e| js_text(&e))?;
    let url = Url::create_object_url_with_blob(&blob).map_err(|e| js_text(&e))?;
    let result = download(&url, filename);
    // The click has started the download; the URL can go after this task.
    let revoke = Closure::once_into_js(move || {
        let _ = Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    }
    result
}

/// Copies the page's address (which holds the view state) to the clipboard.
pub async fn copy_link() -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let href = window.location().href().map_err(|e| js_text(&e))?;
    let clipboard = Reflect::get(&window.navigator(), &"clipboard".into()).map_err(|e| js_text(&e))?;
    if clipboard.is_undefined() {
        return Err("no clipboard".into());
    }
    let write: js_sys::Function =
        Reflect::get(&clipboard, &"writeText".into()).map_err(|e| js_text(&e))?.dyn_into().map_err(|_| "no writeText".to_string())?;
    let promise: js_sys::Promise =
        write.call1(&clipboard, &JsValue::from_str(&href)).map_err(|e| js_text(&e))?.dyn_into().map_err(|_| "no promise".to_string())?;
    JsFuture::from(promise).await.map(|_| ()).map_err(|e| js_text(&e))
}

pub async fn start_camera() -> Result<MediaStream, String> {
    let devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "this browser gives no camera access (it needs https or localhost)".to_string())?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::FALSE);
    let promise = devices.get_user_media_with_constraints(&constraints).map_err(|e| js_text(&e))?;
    let stream = JsFuture::from(promise).await.map_err(|e| js_text(&e))?;
    stream.dyn_into().map_err(|_| "no stream".to_string())
}

pub fn stop_camera(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(t) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            t.stop();
        }
    }
}

/// The current video frame as PNG bytes.
pub fn snapshot(video: &HtmlVideoElement) -> Result<Vec<u8>, String> {
    let (w, h) = (video.video_width(), video.video_height());
    if w == 0 || h == 0 {
        return Err("the camera has not delivered a picture yet".into());
    }
    let (_canvas, ctx) = canvas(w, h)?;
    ctx.draw_image_with_html_video_element(video, 0.0, 0.0).map_err(|e| js_text(&e))?;
    let data = ctx.get_image_data(0.0, 0.0, f64::from(w), f64::from(h)).map_err(|e| js_text(&e))?;
    let rgba = data.data();
    let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let img = RgbImage::from_raw(w, h, rgb).ok_or("bad frame")?;
    Ok(crate::viz::encode_png(&img))
}

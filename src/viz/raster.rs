//! Maps to pixels: resampling, colouring, overlays and colour bars. Pure `image` code, so
//! the page and the CLI draw the same pixels.
use super::colormap::ColorMap;
use super::normalize::Range;
use image::{imageops, ImageEncoder, Rgb, RgbImage};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interp {
    /// Blocks: one flat colour per map cell, the honest view of a coarse map.
    #[default]
    Nearest,
    /// Smooth, with the half-pixel convention of `align_corners = false` (as PyTorch and
    /// candle upsample), so a map overlays the input image without shift.
    Bilinear,
}

/// Resamples the row-major `h`×`w` map to `out_h`×`out_w` values. Cells missing from a
/// short `map` read as NaN.
pub fn resample(map: &[f32], h: usize, w: usize, out_w: u32, out_h: u32, interp: Interp) -> Vec<f32> {
    let cell = |r: usize, c: usize| map.get(r * w + c).copied().unwrap_or(f32::NAN);
    let (out_w, out_h) = (out_w as usize, out_h as usize);
    let mut out = Vec::with_capacity(out_w * out_h);
    for y in 0..out_h {
        for x in 0..out_w {
            out.push(if h == 0 || w == 0 {
                f32::NAN
            } else {
                match interp {
                    Interp::Nearest => cell(nearest(y, out_h, h), nearest(x, out_w, w)),
                    Interp::Bilinear => {
                        let (r0, r1, fy) = linear(y, out_h, h);
                        let (c0, c1, fx) = linear(x, out_w, w);
                        let top = cell(r0, c0) * (1.0 - fx) + cell(r0, c1) * fx;
                        let bottom = cell(r1, c0) * (1.0 - fx) + cell(r1, c1) * fx;
                        top * (1.0 - fy) + bottom * fy
                    }
                }
            });
        }
    }
    out
}

/// Source cell under the centre of output pixel `i` of `n`, for a source of `len` cells.
fn nearest(i: usize, n: usize, len: usize) -> usize {
    (((i as f32 + 0.5) * len as f32 / n as f32) as usize).min(len - 1)
}

/// The two source cells around output pixel `i` and the weight of the second
/// (align_corners = false: pixel centres map to `(i + 0.5) * len / n - 0.5`).
fn linear(i: usize, n: usize, len: usize) -> (usize, usize, f32) {
    let s = ((i as f32 + 0.5) * len as f32 / n as f32 - 0.5).clamp(0.0, (len - 1) as f32);
    let lo = s.floor() as usize;
    (lo, (lo + 1).min(len - 1), s - lo as f32)
}

/// The map as an `out_w`×`out_h` image: resampled, then coloured through `range` and `cmap`.
#[allow(clippy::too_many_arguments)]
pub fn heatmap(map: &[f32], h: usize, w: usize, out_w: u32, out_h: u32, range: Range, cmap: ColorMap, interp: Interp) -> RgbImage {
    let values = resample(map, h, w, out_w, out_h, interp);
    let mut img = RgbImage::new(out_w, out_h);
    for (px, v) in img.pixels_mut().zip(values) {
        *px = Rgb(cmap.rgb(range.unit(v)));
    }
    img
}

/// `heat` blended over `base` shown in grey, with `opacity` in [0, 1] (clamped). Grey, because
/// under a colourful image (green grass, a brown horse) the blend no longer reads as the map's
/// colours: white near 0 would look green. A `heat` of another size is first resized to `base`.
pub fn overlay(base: &RgbImage, heat: &RgbImage, opacity: f32) -> RgbImage {
    let a = if opacity.is_nan() { 0.0 } else { opacity.clamp(0.0, 1.0) };
    let resized;
    let heat = if heat.dimensions() == base.dimensions() {
        heat
    } else {
        resized = imageops::resize(heat, base.width(), base.height(), imageops::FilterType::Triangle);
        &resized
    };
    let mut out = base.clone();
    for p in out.pixels_mut() {
        p.0 = [grey(p.0); 3];
    }
    for (o, h) in out.pixels_mut().zip(heat.pixels()) {
        for (oc, hc) in o.0.iter_mut().zip(h.0) {
            *oc = (f32::from(*oc) * (1.0 - a) + f32::from(hc) * a).round() as u8;
        }
    }
    out
}

/// The luminance of an sRGB pixel (Rec. 709 weights, as CSS `filter: grayscale(1)` uses).
pub fn grey([r, g, b]: [u8; 3]) -> u8 {
    (0.2126 * f32::from(r) + 0.7152 * f32::from(g) + 0.0722 * f32::from(b)).round() as u8
}

/// A colour bar for `range`: vertical (high values at the top) when `height ≥ width`,
/// horizontal (high values at the right) otherwise.
pub fn legend(range: Range, cmap: ColorMap, width: u32, height: u32) -> RgbImage {
    let vertical = height >= width;
    let n = if vertical { height } else { width };
    let colour = |i: u32| {
        let t = (i as f32 + 0.5) / n as f32;
        let t = if vertical { 1.0 - t } else { t };
        Rgb(cmap.rgb(range.unit(range.lo + t * (range.hi - range.lo))))
    };
    RgbImage::from_fn(width, height, |x, y| colour(if vertical { y } else { x }))
}

/// A saliency map (`values`, h×w) over `view` in grey, both `side` pixels square, coloured on the
/// map's own range, and its colour scale (`side` × `scale_height`). For the explanation maps of
/// the CLI and the page.
pub fn saliency_over(values: &[f32], [h, w]: [usize; 2], view: &RgbImage, side: u32, scale_height: u32) -> (RgbImage, RgbImage) {
    let base = imageops::resize(view, side, side, imageops::FilterType::Nearest);
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = if lo < hi { Range { lo, hi } } else { Range { lo: lo - 1.0, hi: lo + 1.0 } };
    let heat = heatmap(values, h, w, side, side, range, ColorMap::Sequential, Interp::Nearest);
    (overlay(&base, &heat, 0.65), legend(range, ColorMap::Sequential, side, scale_height))
}

/// The value of the cell under the point at fractions (`x_frac`, `y_frac`) of the map's
/// width and height (clamped to the map); NaN for an empty or short map.
pub fn value_at(map: &[f32], h: usize, w: usize, x_frac: f32, y_frac: f32) -> f32 {
    if h == 0 || w == 0 {
        return f32::NAN;
    }
    let cell = |f: f32, len: usize| ((f.clamp(0.0, 1.0) * len as f32) as usize).min(len - 1);
    map.get(cell(y_frac, h) * w + cell(x_frac, w)).copied().unwrap_or(f32::NAN)
}

/// PNG bytes of an image (works on wasm too: the page can show it as a data URL).
pub fn encode_png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .expect("encoding a well-formed RGB buffer into memory cannot fail");
    out
}

//! Small drawing helpers for the page: images as data URLs, CSS colour bars, number formats.
use image::RgbImage;

use crate::viz::{encode_png, ColorMap};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn png_data_url(img: &RgbImage) -> String {
    format!("data:image/png;base64,{}", base64(&encode_png(img)))
}

/// A CSS `linear-gradient` of the colour map from low (left) to high (right).
pub fn gradient_css(cmap: ColorMap) -> String {
    let stops: Vec<String> = (0..=10)
        .map(|i| {
            let t = i as f32 / 10.0;
            let [r, g, b] = cmap.rgb(t);
            format!("rgb({r},{g},{b}) {}%", i * 10)
        })
        .collect();
    format!("linear-gradient(to right, {})", stops.join(", "))
}

/// A value with 3 significant digits and an explicit sign (agreement is signed).
pub fn signed(v: f32) -> String {
    if v.is_nan() {
        return "n/a".into();
    }
    let s = short(v.abs());
    if v > 0.0 {
        format!("+{s}")
    } else if v < 0.0 {
        format!("−{s}")
    } else {
        s
    }
}

/// 3 significant digits, scientific outside [0.001, 10000).
pub fn short(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.2e}")
    } else {
        let digits = (2 - a.log10().floor() as i32).clamp(0, 5) as usize;
        format!("{v:.digits$}")
    }
}

pub fn percent(p: f32) -> String {
    if p > 0.0 && p < 0.0005 {
        // "0.0%" would read as exactly zero
        "<0.1%".into()
    } else if !(0.01..0.995).contains(&p) {
        format!("{:.1}%", p * 100.0)
    } else {
        format!("{:.0}%", p * 100.0)
    }
}

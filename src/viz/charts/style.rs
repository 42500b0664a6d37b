//! Fonts, sizes and text helpers shared by the charts.
//!
//! Text is never measured: plotters on wasm32 measures text through the DOM, which is slow
//! and absent in workers, so layouts use [`text_width`], an estimate, and the SVG charts
//! leave glyph layout to the browser. The charts therefore avoid plotters' caption,
//! series legend and right-hand label areas, the parts of plotters that measure.
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Text settings of one output format.
pub(super) struct Theme {
    pub family: &'static str,
}

/// SVG: the browser picks the sans-serif font. Nothing registers this family natively,
/// so a chart that tried to measure text would fail the native SVG tests.
pub(super) const SVG: Theme = Theme { family: "sans-serif" };

/// PNG: DejaVu Sans, bundled and registered under this name before rendering.
#[cfg(not(target_arch = "wasm32"))]
pub(super) const PNG: Theme = Theme { family: "DejaVu Sans" };

// Sizes in plotters units (≈ 1.2 × CSS px), chosen to stay readable on a projector.
pub(super) const TITLE: f64 = 32.0;
pub(super) const LABEL: f64 = 24.0;
pub(super) const TICK: f64 = 21.0;

pub(super) type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

pub(super) fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

impl Theme {
    pub fn text(&self, size: f64, color: [u8; 3], h: HPos, v: VPos) -> TextStyle<'static> {
        (self.family, size).into_font().color(&rgb(color)).pos(Pos::new(h, v))
    }

    /// Draws `title` centred at the top of `root` and returns the area below it.
    pub fn title<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        title: &str,
    ) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
        let (w, _) = root.dim_in_pixel();
        let title = fit(title, w as i32 - 20, TITLE);
        root.draw_text(&title, &self.text(TITLE, [0; 3], HPos::Center, VPos::Top), (w as i32 / 2, 12))?;
        Ok(root.split_vertically(TITLE as i32 + 24).1)
    }

    /// A vertical list of colour swatches and names, drawn from `(x, y)` downwards.
    pub fn key<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, (x, y): (i32, i32), entries: &[(String, [u8; 3])]) -> Drawn<DB> {
        let row = LABEL as i32 + 10;
        let swatch = LABEL as i32 * 2 / 3;
        for (i, (name, color)) in entries.iter().enumerate() {
            let cy = y + i as i32 * row + row / 2;
            area.draw(&Rectangle::new([(x, cy - swatch / 2), (x + swatch, cy + swatch / 2)], rgb(*color).filled()))?;
            area.draw_text(name, &self.text(LABEL, [0; 3], HPos::Left, VPos::Center), (x + swatch + 8, cy))?;
        }
        Ok(())
    }
}

/// Width of the widest key entry, swatch included.
pub(super) fn key_width(entries: &[(String, [u8; 3])]) -> i32 {
    entries.iter().map(|(n, _)| text_width(n, LABEL)).max().unwrap_or(0) + LABEL as i32
}

/// Estimated width in pixels of `s` at `size` (DejaVu Sans averages ≈ 0.55 em a glyph;
/// browsers' sans-serif fonts are narrower, so this errs on the roomy side).
pub(super) fn text_width(s: &str, size: f64) -> i32 {
    (s.chars().count() as f64 * size * 0.55).ceil() as i32
}

/// `s`, shortened with an ellipsis to fit `max_px`.
pub(super) fn fit(s: &str, max_px: i32, size: f64) -> String {
    if text_width(s, size) <= max_px {
        return s.to_string();
    }
    let keep = ((max_px as f64 / (size * 0.55)) as usize).saturating_sub(1);
    s.chars().take(keep).chain(std::iter::once('…')).collect()
}

/// A value for a label: 3 significant digits, no exponent for the usual magnitudes.
pub(super) fn fmt_value(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        format!("{v}")
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

/// An axis tick on a range of width `span`: ticks stepped in f32 can land on 6.9e-18 instead of
/// zero, which reads as noise; anything that close to zero is written 0. Ticks are round
/// numbers, so trailing zeros go ("0.04", not "0.0400").
pub(super) fn fmt_tick(v: f32, span: f32) -> String {
    let s = fmt_value(if v.abs() < span.abs() * 1e-5 { 0.0 } else { v });
    let (mantissa, exponent) = s.split_once('e').map_or((s.as_str(), None), |(m, e)| (m, Some(e)));
    let mantissa = if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
    match exponent {
        Some(e) => format!("{mantissa}e{e}"),
        None => mantissa.to_string(),
    }
}

/// A probability as a percentage.
pub(super) fn fmt_percent(p: f32) -> String {
    format!("{:.1}%", p * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_near_zero_read_zero_and_others_keep_their_digits() {
        assert_eq!(fmt_tick(6.94e-18, 2.0), "0");
        assert_eq!(fmt_tick(-3e-9, 0.5), "0");
        assert_eq!(fmt_tick(0.25, 2.0), "0.25");
        assert_eq!(fmt_tick(-1.5, 4.0), "-1.5");
        assert_eq!(fmt_tick(-0.08, 0.2), "-0.08");
        assert_eq!(fmt_tick(20.0, 100.0), "20");
        assert_eq!(fmt_tick(100.0, 100.0), "100");
        assert_eq!(fmt_tick(2e-5, 1e-4), "2e-5", "small ranges keep small ticks");
        assert_eq!(fmt_tick(2.5e-5, 1e-4), "2.5e-5");
    }
}

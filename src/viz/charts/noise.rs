//! Robustness curves: accuracy against the σ of added Gaussian noise, one line per model.
use super::style::{fit, key_width, rgb, Drawn, Theme, LABEL, TICK};
use super::{png, Chart};
use crate::viz::colormap::categorical;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// One model's curve.
pub struct NoiseSeries {
    pub name: String,
    pub points: Vec<NoisePoint>,
}

/// Accuracy at one noise level: the mean over runs, and the worst and best run (the band drawn
/// where they differ). One run: all three equal.
#[derive(Debug, Clone, Copy)]
pub struct NoisePoint {
    pub sigma: f32,
    pub accuracy: f32,
    pub lo: f32,
    pub hi: f32,
}

impl NoisePoint {
    pub fn single(sigma: f32, accuracy: f32) -> Self {
        NoisePoint { sigma, accuracy, lo: accuracy, hi: accuracy }
    }
}

/// Accuracy (in [0, 1]) against noise σ on a log axis, one line per model.
/// Points with σ ≤ 0 cannot sit on a log axis and are left out.
pub fn noise_curve_png(series: &[NoiseSeries]) -> Vec<u8> {
    png(&NoiseCurve { series })
}

struct NoiseCurve<'a> {
    series: &'a [NoiseSeries],
}

impl Chart for NoiseCurve<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 650)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, theme: &Theme) -> Drawn<DB> {
        let area = theme.title(root, "Accuracy under Gaussian noise")?;
        let key: Vec<(String, [u8; 3])> = self.series.iter().enumerate().map(|(i, s)| (fit(&s.name, 380, LABEL), categorical(i))).collect();
        let (plot, side) = area.split_horizontally(area.dim_in_pixel().0 as i32 - key_width(&key) - 40);
        theme.key(&side, (10, 40), &key)?;

        let sigmas = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.sigma)).filter(|s| *s > 0.0 && s.is_finite());
        let (lo, hi) = sigmas.fold((f32::INFINITY, 0f32), |(lo, hi), s| (lo.min(s), hi.max(s)));
        let (lo, hi) = if lo <= hi { (lo / 1.25, hi * 1.25) } else { (0.01, 1.0) };
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(16)
            .margin_right(16)
            .margin_bottom(8)
            .x_label_area_size(80)
            .y_label_area_size(110)
            .build_cartesian_2d((lo..hi).log_scale().with_key_points(ticks(lo, hi)), 0f32..1f32)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("noise σ")
            .y_desc("accuracy")
            .y_labels(6)
            .x_label_formatter(&|s| format!("{s}"))
            .y_label_formatter(&|a| format!("{:.0}%", a * 100.0))
            .axis_desc_style(theme.text(LABEL, [0; 3], HPos::Center, VPos::Center))
            .label_style(theme.text(TICK, [60; 3], HPos::Center, VPos::Top))
            .draw()?;
        for (i, series) in self.series.iter().enumerate() {
            let colour = rgb(categorical(i));
            let pts: Vec<&NoisePoint> =
                series.points.iter().filter(|p| p.sigma > 0.0 && [p.sigma, p.accuracy, p.lo, p.hi].iter().all(|v| v.is_finite())).collect();
            if pts.iter().any(|p| p.hi > p.lo) {
                let band = pts.iter().map(|p| (p.sigma, p.hi)).chain(pts.iter().rev().map(|p| (p.sigma, p.lo)));
                chart.draw_series(std::iter::once(Polygon::new(band.collect::<Vec<_>>(), colour.mix(0.18).filled())))?;
            }
            chart.draw_series(LineSeries::new(pts.iter().map(|p| (p.sigma, p.accuracy)), colour.stroke_width(3)))?;
            chart.draw_series(pts.iter().map(|p| Circle::new((p.sigma, p.accuracy), 6, colour.filled())))?;
        }
        Ok(())
    }
}

/// 1, 2 and 5 times the powers of ten in [lo, hi]: plotters' own log ticks crowd.
fn ticks(lo: f32, hi: f32) -> Vec<f32> {
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    // Parsed, so that each tick is the f32 nearest its decimal and prints as one.
    let all = decades.flat_map(|k| [1, 2, 5].map(|m| format!("{m}e{k}").parse::<f32>().unwrap_or(0.0)));
    all.filter(|t| (lo..=hi).contains(t)).collect()
}

//! Bar charts: top-k probabilities and signed per-item bars (dense agreement, α).
use super::style::{fit, fmt_percent, fmt_tick, fmt_value, rgb, text_width, Drawn, Theme, LABEL, TICK};
use super::Chart;
use crate::inspect::{Inspection, LayerMaps, Pass};
use crate::viz::colormap::{HIGHLIGHT, MUTED};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

const GREY_TEXT: [u8; 3] = [60, 60, 60];

pub(super) struct TopK<'a> {
    pub pass: &'a Pass,
    pub k: usize,
}

impl Chart for TopK<'_> {
    fn size(&self) -> (u32, u32) {
        let rows = self.k.min(self.pass.top.len()).max(1) as u32;
        (1000, 150 + rows * 56)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, theme: &Theme) -> Drawn<DB> {
        let top = &self.pass.top[..self.k.min(self.pass.top.len())];
        let area = theme.title(root, &format!("Pass {}: top {} classes", self.pass.index, top.len()))?;
        let (w, _) = area.dim_in_pixel();
        let names: Vec<String> = top.iter().map(|t| fit(&t.class, w as i32 * 2 / 5, LABEL)).collect();
        let name_w = names.iter().map(|n| text_width(n, LABEL)).max().unwrap_or(0);
        let n = top.len().max(1) as f32;
        let mut chart = ChartBuilder::on(&area)
            .margin_left(16)
            .margin_right(110) // room for the value after a full bar
            .margin_bottom(8)
            .x_label_area_size(50)
            .y_label_area_size(name_w + 20)
            .build_cartesian_2d(0f32..1f32, 0f32..n)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(6)
            .x_label_formatter(&|p| format!("{:.0}%", p * 100.0))
            .label_style(theme.text(TICK, GREY_TEXT, HPos::Center, VPos::Top))
            .draw()?;
        // Rank 0 at the top.
        let row = |i: usize| n - 1.0 - i as f32;
        chart.draw_series(top.iter().enumerate().map(|(i, t)| {
            let colour = if i == 0 { HIGHLIGHT } else { MUTED };
            Rectangle::new([(0.0, row(i) + 0.15), (t.p.clamp(0.0, 1.0), row(i) + 0.85)], rgb(colour).filled())
        }))?;
        chart.draw_series(top.iter().zip(&names).enumerate().flat_map(|(i, (t, name))| {
            let colour = if i == 0 { HIGHLIGHT } else { [0; 3] };
            let y = row(i) + 0.5;
            [
                EmptyElement::at((0.0, y)) + Text::new(name.clone(), (-10, 0), theme.text(LABEL, colour, HPos::Right, VPos::Center)),
                EmptyElement::at((t.p.clamp(0.0, 1.0), y))
                    + Text::new(fmt_percent(t.p), (8, 0), theme.text(LABEL, GREY_TEXT, HPos::Left, VPos::Center)),
            ]
        }))?;
        Ok(())
    }
}

/// Vertical bars of signed values about a zero line, optionally named and one highlighted.
pub(super) struct SignedBars {
    title: String,
    y_desc: String,
    values: Vec<f32>,
    names: Option<Vec<String>>,
    highlight: Option<usize>,
    /// Symmetric y axis, so that equal heights above and below 0 read as equal.
    symmetric: bool,
    /// A y axis reaching at least ±span: one scale shared with other charts (the page's
    /// normalisation: the same layer in every pass, say), so that their bars compare.
    span: Option<f32>,
}

pub(super) fn dense_agreement(
    layer: &LayerMaps,
    class_names: Option<&[String]>,
    highlight: Option<usize>,
    span: Option<f32>,
) -> SignedBars {
    SignedBars {
        title: format!("Agreement of {}", layer.name),
        y_desc: "agreement g".into(),
        values: layer.agreement.clone(),
        names: class_names.map(|n| n.to_vec()),
        highlight,
        symmetric: true,
        span: span.filter(|s| s.is_finite() && *s > 0.0),
    }
}

pub(super) fn alphas(insp: &Inspection) -> SignedBars {
    SignedBars {
        title: "α used per attended layer".into(),
        y_desc: "α".into(),
        values: insp.alphas.iter().map(|a| a.used).collect(),
        names: Some(insp.alphas.iter().map(|a| a.name.clone()).collect()),
        highlight: None,
        symmetric: false,
        span: None,
    }
}

/// Names are drawn under the bars up to this many; beyond, bars get index ticks.
const MAX_NAMED: usize = 40;
/// Values are printed on the bars up to this many.
const MAX_VALUED: usize = 12;

impl SignedBars {
    /// The names to draw under the bars, and whether they need turning upright to fit.
    fn names(&self, slot_px: i32) -> Option<(Vec<String>, bool)> {
        let names = self.names.as_ref().filter(|n| n.len() <= MAX_NAMED && !self.values.is_empty())?;
        let names: Vec<String> = names.iter().take(self.values.len()).map(|n| fit(n, 180, TICK)).collect();
        let upright = names.iter().any(|n| text_width(n, TICK) > slot_px - 6);
        Some((names, upright))
    }
}

impl Chart for SignedBars {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, theme: &Theme) -> Drawn<DB> {
        let area = theme.title(root, &self.title)?;
        let n = self.values.len().max(1);
        let (w, _) = area.dim_in_pixel();
        let y_area = 110;
        let named = self.names((w as i32 - y_area - 40) / n as i32);
        let x_area = match &named {
            Some((names, true)) => names.iter().map(|s| text_width(s, TICK)).max().unwrap_or(0) + 16,
            _ => 44,
        };

        let finite = self.values.iter().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if self.symmetric { (lo.min(-hi), hi.max(-lo)) } else { (lo, hi) };
        let (lo, hi) = self.span.map_or((lo, hi), |s| (lo.min(-s), hi.max(s)));
        // lo ≤ 0 ≤ hi, so the zero line is always in view; pad the sides that have bars
        // (the top when there are none).
        let pad = if hi > lo { (hi - lo) * 0.08 } else { 1.0 };
        let bottom = if lo < 0.0 { lo - pad } else { 0.0 };
        let top = if hi > 0.0 || lo == 0.0 { hi + pad } else { 0.0 };

        let mut chart = ChartBuilder::on(&area)
            .margin_left(16)
            .margin_right(24)
            .margin_bottom(8)
            .x_label_area_size(x_area)
            .y_label_area_size(y_area)
            .build_cartesian_2d(-0.5f32..n as f32 - 0.5, bottom..top)?;
        let y_label = |v: &f32| fmt_tick(*v, top - bottom);
        let x_label = |v: &f32| if v.fract() == 0.0 { format!("{v}") } else { String::new() };
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .y_desc(self.y_desc.as_str())
            .y_label_formatter(&y_label)
            .axis_desc_style(theme.text(LABEL, [0; 3], HPos::Center, VPos::Center))
            .label_style(theme.text(TICK, GREY_TEXT, HPos::Center, VPos::Top));
        if named.is_some() {
            mesh.x_labels(0);
        } else {
            mesh.x_desc("unit").x_label_formatter(&x_label);
        }
        mesh.draw()?;

        let colour = |i: usize| if Some(i) == self.highlight { HIGHLIGHT } else { MUTED };
        chart.draw_series(self.values.iter().enumerate().map(|(i, &v)| {
            let x = i as f32;
            Rectangle::new([(x - 0.4, 0.0), (x + 0.4, if v.is_finite() { v } else { 0.0 })], rgb(colour(i)).filled())
        }))?;
        chart.draw_series(std::iter::once(PathElement::new(vec![(-0.5, 0.0), (n as f32 - 0.5, 0.0)], BLACK.stroke_width(2))))?;

        // Values on the bars, where there are few enough and each fits its bar's slot (narrow
        // charts on phones would run neighbouring labels together).
        let slot = (w as i32 - y_area - 40) / n as i32;
        let fits = self.values.iter().all(|&v| text_width(&fmt_value(v), TICK) <= slot - 4);
        if self.values.len() <= MAX_VALUED && fits {
            chart.draw_series(self.values.iter().enumerate().map(|(i, &v)| {
                let (dy, v_pos) = if v < 0.0 { (6, VPos::Top) } else { (-6, VPos::Bottom) };
                EmptyElement::at((i as f32, v)) + Text::new(fmt_value(v), (0, dy), theme.text(TICK, GREY_TEXT, HPos::Center, v_pos))
            }))?;
        }
        if let Some((names, upright)) = named {
            let y0 = chart.y_range().start;
            chart.draw_series(names.into_iter().enumerate().map(|(i, name)| {
                let colour = if Some(i) == self.highlight { HIGHLIGHT } else { [0; 3] };
                let style = theme.text(
                    TICK,
                    colour,
                    if upright { HPos::Right } else { HPos::Center },
                    if upright { VPos::Center } else { VPos::Top },
                );
                let style = if upright { style.transform(FontTransform::Rotate270) } else { style };
                EmptyElement::at((i as f32, y0)) + Text::new(name, (0, 8), style)
            }))?;
        }
        Ok(())
    }
}

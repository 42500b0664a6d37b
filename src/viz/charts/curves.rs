//! Deletion and insertion curves (RISE): the class probability against the fraction of pixels
//! removed or inserted in the order a map ranks them, one line per kind of map.
#[cfg(not(target_arch = "wasm32"))]
use super::png;
use super::style::{fit, key_width, rgb, Drawn, Theme, LABEL, TICK};
use super::{svg, Chart, Fit};
use crate::viz::colormap::categorical;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// One kind of map: its name and its two curves (points evenly spaced over [0, 1]).
pub struct CurveSeries {
    pub name: String,
    pub deletion: Vec<f32>,
    pub insertion: Vec<f32>,
}

/// Deletion (left) and insertion (right) curves, one line per map kind.
#[cfg(not(target_arch = "wasm32"))]
pub fn deletion_insertion_png(title: &str, series: &[CurveSeries]) -> Vec<u8> {
    png(&Curves { title, series })
}

/// The same chart as SVG, for the page.
pub fn deletion_insertion_svg(title: &str, series: &[CurveSeries], fit: Fit) -> String {
    svg(&Curves { title, series }, fit)
}

struct Curves<'a> {
    title: &'a str,
    series: &'a [CurveSeries],
}

impl Chart for Curves<'_> {
    fn size(&self) -> (u32, u32) {
        (1400, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, theme: &Theme) -> Drawn<DB> {
        let area = theme.title(root, self.title)?;
        let key: Vec<(String, [u8; 3])> = self.series.iter().enumerate().map(|(i, s)| (fit(&s.name, 300, LABEL), categorical(i))).collect();
        let (plots, side) = area.split_horizontally(area.dim_in_pixel().0 as i32 - key_width(&key) - 40);
        theme.key(&side, (10, 40), &key)?;
        let panels = plots.split_evenly((1, 2));
        for (panel, (name, insertion)) in panels.iter().zip([
            ("pixels removed (deletion: lower is more faithful)", false),
            ("pixels inserted (insertion: higher is more faithful)", true),
        ]) {
            let mut chart = ChartBuilder::on(panel)
                .margin_left(16)
                .margin_right(24)
                .margin_bottom(8)
                .x_label_area_size(80)
                .y_label_area_size(110)
                .build_cartesian_2d(0f32..1f32, 0f32..1f32)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .x_desc(name)
                .y_desc("class probability")
                .x_labels(6)
                .y_labels(6)
                .x_label_formatter(&|f| format!("{:.0}%", f * 100.0))
                .y_label_formatter(&|a| format!("{:.0}%", a * 100.0))
                .axis_desc_style(theme.text(LABEL, [0; 3], HPos::Center, VPos::Center))
                .label_style(theme.text(TICK, [60; 3], HPos::Center, VPos::Top))
                .draw()?;
            for (i, s) in self.series.iter().enumerate() {
                let ys = if insertion { &s.insertion } else { &s.deletion };
                let n = ys.len().saturating_sub(1).max(1) as f32;
                let pts = ys.iter().enumerate().filter(|(_, y)| y.is_finite()).map(|(k, &y)| (k as f32 / n, y));
                chart.draw_series(LineSeries::new(pts, rgb(categorical(i)).stroke_width(3)))?;
            }
        }
        Ok(())
    }
}

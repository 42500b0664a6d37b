//! How the probabilities of the final top classes change from pass to pass.
use super::style::{fit, key_width, rgb, Drawn, Theme, LABEL, TICK};
use super::Chart;
use crate::inspect::Inspection;
use crate::viz::colormap::categorical;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// At most this many of the final top classes are followed.
const CLASSES: usize = 5;

pub(super) struct AcrossPasses<'a> {
    pub insp: &'a Inspection,
}

impl Chart for AcrossPasses<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, theme: &Theme) -> Drawn<DB> {
        let area = theme.title(root, "Top classes across passes")?;
        let passes = &self.insp.passes;
        let classes = passes.last().map_or(&[][..], |p| &p.top[..p.top.len().min(CLASSES)]);
        // Colour i follows class i of the final ranking, so the final top-1 is the highlight.
        let key: Vec<(String, [u8; 3])> = classes.iter().enumerate().map(|(i, c)| (fit(&c.class, 260, LABEL), categorical(i))).collect();
        let (plot, side) = area.split_horizontally(area.dim_in_pixel().0 as i32 - key_width(&key) - 40);
        theme.key(&side, (10, 40), &key)?;

        let groups = passes.len().max(1) as f32;
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(16)
            .margin_right(8)
            .margin_bottom(8)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(0f32..groups, 0f32..1f32)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .y_label_formatter(&|p| format!("{:.0}%", p * 100.0))
            .label_style(theme.text(TICK, [60; 3], HPos::Center, VPos::Top))
            .draw()?;

        let width = 0.8 / classes.len().max(1) as f32;
        chart.draw_series(passes.iter().enumerate().flat_map(|(g, pass)| {
            classes.iter().enumerate().map(move |(i, c)| {
                let p = pass.probabilities.get(c.index).copied().unwrap_or(0.0).clamp(0.0, 1.0);
                let x = g as f32 + 0.1 + i as f32 * width;
                Rectangle::new([(x, 0.0), (x + width * 0.9, p)], rgb(categorical(i)).filled())
            })
        }))?;
        chart.draw_series(passes.iter().enumerate().map(|(g, pass)| {
            EmptyElement::at((g as f32 + 0.5, 0.0))
                + Text::new(format!("pass {}", pass.index), (0, 10), theme.text(LABEL, [0; 3], HPos::Center, VPos::Top))
        }))?;
        Ok(())
    }
}

//! Charts drawn with plotters. Each chart is drawn once, generically over the plotters
//! backend, and has two front doors: `*_svg` for the page and, natively, `*_png`.
mod bars;
mod curves;
#[cfg(not(target_arch = "wasm32"))]
mod maps;
#[cfg(not(target_arch = "wasm32"))]
mod noise;
mod passes;
mod style;

use crate::inspect::{Inspection, LayerMaps, Pass};
use plotters::coord::Shift;
use plotters::prelude::*;
use style::{Drawn, Theme};

#[cfg(not(target_arch = "wasm32"))]
pub use curves::deletion_insertion_png;
pub use curves::{deletion_insertion_svg, CurveSeries};
#[cfg(not(target_arch = "wasm32"))]
pub use maps::{attention_with_legend_png, heatmap_overlay_png, heatmap_with_legend_png};
#[cfg(not(target_arch = "wasm32"))]
pub use noise::{noise_curve_png, NoisePoint, NoiseSeries};

/// One chart: its pixel size and how to draw it on any backend.
trait Chart {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, theme: &Theme) -> Drawn<DB>;
}

// The backends draw into memory and (see `style`) never measure text, so the only errors
// plotters could report are bugs in this module.
const INFALLIBLE: &str = "drawing a chart into memory failed";

/// How wide the page shows a chart. On a phone a chart is scaled down to about 350 px, which
/// would shrink its text to a third; a narrow chart is the same drawing on a canvas about half as
/// wide (its text keeps its pixel size, so it ends up about twice as large on the screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    Wide,
    Narrow,
}

const NARROW_WIDTH: u32 = 560;

fn svg(chart: &impl Chart, fit: Fit) -> String {
    let (w, h) = chart.size();
    let size = match fit {
        Fit::Wide => (w, h),
        Fit::Narrow => (w.min(NARROW_WIDTH), h),
    };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).expect(INFALLIBLE);
        chart.draw(&root, &style::SVG).expect(INFALLIBLE);
        root.present().expect(INFALLIBLE);
    }
    out
}

#[cfg(not(target_arch = "wasm32"))]
fn png(chart: &impl Chart) -> Vec<u8> {
    let (w, h) = chart.size();
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255; 3]));
    draw_on(&mut img, |root| chart.draw(root, &style::PNG));
    super::raster::encode_png(&img)
}

/// Runs `draw` on a bitmap backend over `img` (RGB8, the layout plotters uses), with the
/// bundled font registered.
#[cfg(not(target_arch = "wasm32"))]
fn draw_on(img: &mut image::RgbImage, draw: impl for<'b> FnOnce(&DrawingArea<BitMapBackend<'b>, Shift>) -> Drawn<BitMapBackend<'b>>) {
    static FONT: std::sync::Once = std::sync::Once::new();
    FONT.call_once(|| {
        let bytes = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
        plotters::style::register_font(style::PNG.family, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans does not parse"));
    });
    let (w, h) = img.dimensions();
    let root = BitMapBackend::with_buffer(img, (w, h)).into_drawing_area();
    draw(&root).expect(INFALLIBLE);
    root.present().expect(INFALLIBLE);
}

/// Horizontal bars of the `k` most probable classes of `pass`, top-1 highlighted.
pub fn topk_chart_svg(pass: &Pass, k: usize, fit: Fit) -> String {
    svg(&bars::TopK { pass, k }, fit)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn topk_chart_png(pass: &Pass, k: usize) -> Vec<u8> {
    png(&bars::TopK { pass, k })
}

/// Probabilities of the final top classes in every pass: one group of bars per pass.
pub fn top1_across_passes_svg(insp: &Inspection, fit: Fit) -> String {
    svg(&passes::AcrossPasses { insp }, fit)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn top1_across_passes_png(insp: &Inspection) -> Vec<u8> {
    png(&passes::AcrossPasses { insp })
}

/// The agreement of each unit of a dense layer, as signed bars about a zero line. With
/// `class_names` (the logit layer) the bars are named; `highlight` marks one unit's bar
/// (the predicted or the correct class).
pub fn dense_agreement_chart_svg(
    layer: &LayerMaps,
    class_names: Option<&[String]>,
    highlight: Option<usize>,
    span: Option<f32>,
    fit: Fit,
) -> String {
    svg(&bars::dense_agreement(layer, class_names, highlight, span), fit)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn dense_agreement_chart_png(layer: &LayerMaps, class_names: Option<&[String]>, highlight: Option<usize>) -> Vec<u8> {
    png(&bars::dense_agreement(layer, class_names, highlight, None))
}

/// The α used at each attended layer.
pub fn alpha_chart_svg(insp: &Inspection, fit: Fit) -> String {
    svg(&bars::alphas(insp), fit)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn alpha_chart_png(insp: &Inspection) -> Vec<u8> {
    png(&bars::alphas(insp))
}

//! Views: colour maps, scales, rasters and charts, checked natively.
use gattanet::inspect::{Aggregation, InspectOptions, Inspection, LayerAlpha, LayerKind, LayerMaps, Pass, TopClass};
use gattanet::viz::colormap::{categorical, HIGHLIGHT, NAN_COLOR};
use gattanet::viz::*;
use image::{Rgb, RgbImage};

// ---------- fixtures ----------

fn layer(name: &str, kind: LayerKind, shape: &[usize], agreement: &[f32]) -> LayerMaps {
    LayerMaps { name: name.into(), kind, shape: shape.to_vec(), agreement: agreement.to_vec(), gain: vec![1.0; agreement.len()] }
}

fn top(classes: &[String], probs: &[f32]) -> Vec<TopClass> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    order.into_iter().map(|i| TopClass { class: classes[i].clone(), index: i, p: probs[i] }).collect()
}

/// Two passes, three attended layers (conv 2×2, conv 1×2, dense 3), two aggregation heads.
/// Max |g|: conv0 1 then 4, conv1 3 then 6, dense 10 then 7. Max weight: head 0 0.3 then
/// 0.4, head 1 0.5 then 0.6.
fn inspection() -> Inspection {
    let classes: Vec<String> = ["cat", "dog", "ship"].map(String::from).to_vec();
    let pass = |index: usize, maps: [&[f32]; 3], probs: [f32; 3], weights: [&[f32]; 2]| Pass {
        index,
        logits: probs.iter().map(|p| p.ln()).collect(),
        probabilities: probs.to_vec(),
        top: top(&classes, &probs),
        global_query: vec![],
        layers: vec![
            layer("conv0", LayerKind::Conv, &[2, 2], maps[0]),
            layer("conv1", LayerKind::Conv, &[1, 2], maps[1]),
            layer("fc", LayerKind::Dense, &[3], maps[2]),
        ],
        aggregation: Some(Aggregation {
            heads: 2,
            grid: [1, 2],
            weights: weights.iter().map(|w| w.to_vec()).collect(),
            self_weight: weights.iter().map(|w| 1.0 - w.iter().sum::<f32>()).collect(),
        }),
    };
    Inspection {
        model: "test".into(),
        classes: classes.clone(),
        input_size: [8, 8],
        options: InspectOptions::default(),
        alphas: vec![
            LayerAlpha { name: "conv0".into(), learned: 0.5, used: 0.5 },
            LayerAlpha { name: "conv1".into(), learned: 0.2, used: -0.1 },
        ],
        passes: vec![
            pass(0, [&[0.5, -1.0, 0.2, 0.0], &[-3.0, 2.0], &[10.0, -1.0, 0.0]], [0.2, 0.5, 0.3], [&[0.3, 0.1], &[0.5, 0.2]]),
            pass(1, [&[4.0, 0.0, 0.0, -2.0], &[1.0, -6.0], &[-7.0, 1.0, 2.0]], [0.1, 0.7, 0.2], [&[0.4, 0.2], &[0.1, 0.6]]),
        ],
    }
}

fn decode(png: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("valid PNG").to_rgb8()
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02X}{:02X}{:02X}", c[0], c[1], c[2])
}

/// Whether the SVG has a text element reading exactly `s`.
fn has_text(svg: &str, s: &str) -> bool {
    svg.contains(&format!(">\n{s}\n</text>"))
}

/// Whether colour `c` is of the family whose main channel is `main` (0 red, 2 blue): that
/// channel leads and is at least twice the opposite one.
fn leads(c: [u8; 3], main: usize) -> bool {
    let other = 2 - main;
    c[main] == *c.iter().max().unwrap() && c[main] as u32 >= 2 * c[other] as u32 + 20
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

// ---------- colour maps ----------

#[test]
fn diverging_maps_are_neutral_at_zero_and_two_hues_apart() {
    for cmap in [ColorMap::Diverging, ColorMap::PurpleOrange] {
        let [r, g, b] = cmap.rgb(0.5);
        assert!(r.max(g).max(b) - r.min(g).min(b) <= 12 && r > 230, "{cmap:?} centre {:?}", [r, g, b]);
    }
    let (neg, pos) = (ColorMap::Diverging.rgb(0.0), ColorMap::Diverging.rgb(1.0));
    assert!(leads(pos, 0) && leads(ColorMap::Diverging.rgb(0.8), 0), "positive side red: {pos:?}");
    assert!(leads(neg, 2) && leads(ColorMap::Diverging.rgb(0.2), 2), "negative side blue: {neg:?}");
    let (neg, pos) = (ColorMap::PurpleOrange.rgb(0.0), ColorMap::PurpleOrange.rgb(1.0));
    assert!(neg[2] > neg[1] && pos[0] > pos[2] && pos[1] > pos[2], "purple {neg:?} / orange {pos:?}");
}

#[test]
fn colour_maps_clamp_and_flag_nan() {
    for &cmap in ColorMap::all() {
        assert_eq!(cmap.rgb(-3.0), cmap.rgb(0.0));
        assert_eq!(cmap.rgb(7.0), cmap.rgb(1.0));
        assert_eq!(cmap.rgb(f32::NAN), NAN_COLOR);
        assert_ne!(cmap.rgb(0.0), cmap.rgb(1.0));
    }
    let luma = |c: [u8; 3]| c.iter().map(|&v| v as u32).sum::<u32>();
    for cmap in [ColorMap::Sequential, ColorMap::Cividis, ColorMap::Greys] {
        assert!(luma(cmap.rgb(1.0)) > luma(cmap.rgb(0.0)) + 200, "{cmap:?}: more should be brighter");
    }
    let names: std::collections::HashSet<_> = ColorMap::all().iter().map(|c| c.name()).collect();
    assert_eq!(names.len(), ColorMap::all().len());
    assert_eq!(serde_json::to_string(&ColorMap::PurpleOrange).unwrap(), "\"purple_orange\"");
}

// ---------- normalisation ----------

#[test]
fn agreement_range_per_mode() {
    let insp = inspection();
    let m = |pass, layer, mode| {
        let r = agreement_range(&insp, pass, layer, mode);
        assert_eq!(r.lo, -r.hi, "symmetric");
        r.hi
    };
    assert_eq!(m(0, 0, Normalization::PerMap), 1.0);
    assert_eq!(m(0, 0, Normalization::PerLayer), 4.0);
    // Conv layers of pass 0 only: the dense layer's 10 is on another scale.
    assert_eq!(m(0, 0, Normalization::PerPass), 3.0);
    assert_eq!(m(0, 0, Normalization::Global), 6.0);
    assert_eq!(m(1, 2, Normalization::PerMap), 7.0);
    assert_eq!(m(1, 2, Normalization::PerPass), 7.0);
    assert_eq!(m(1, 2, Normalization::Global), 10.0);
}

#[test]
fn zero_or_missing_maps_give_a_usable_range() {
    let mut insp = inspection();
    insp.passes[0].layers[0].agreement = vec![0.0, f32::NAN, 0.0, 0.0];
    let r = agreement_range(&insp, 0, 0, Normalization::PerMap);
    assert_eq!((r.lo, r.hi), (-1.0, 1.0));
    assert_eq!(r.unit(0.0), 0.5);
    assert_eq!(agreement_range(&insp, 5, 9, Normalization::PerMap), r);
    let r = attention_range(&insp, 0, 7, Normalization::PerMap);
    assert_eq!((r.lo, r.hi), (0.0, 1.0));
}

#[test]
fn global_query_range_spans_every_pass() {
    let mut insp = inspection();
    insp.passes[0].global_query = vec![0.5, -2.0];
    insp.passes[1].global_query = vec![1.5, f32::NAN];
    let r = global_query_range(&insp);
    assert_eq!((r.lo, r.hi), (-2.0, 2.0));
    assert_eq!(r.unit(-2.0), 0.0);
    assert_eq!(r.unit(1.0), 0.75);
    insp.passes.iter_mut().for_each(|p| p.global_query.clear());
    assert_eq!(global_query_range(&insp).hi, 1.0, "no query: a usable range");
}

#[test]
fn cosine_of_queries() {
    assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), Some(0.0));
    assert_eq!(cosine(&[1.0, 2.0], &[2.0, 4.0]), Some(1.0));
    assert_eq!(cosine(&[1.0, 2.0], &[-1.0, -2.0]), Some(-1.0));
    // 3·1 + 4·0 over 5·1: 0.6
    assert!((cosine(&[3.0, 4.0], &[1.0, 0.0]).unwrap() - 0.6).abs() < 1e-7);
    assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), None, "zero vector");
    assert_eq!(cosine(&[1.0], &[1.0, 0.0]), None, "lengths differ");
    assert_eq!(cosine(&[], &[]), None);
    assert_eq!(cosine(&[f32::NAN, 1.0], &[1.0, 1.0]), None);
}

#[test]
fn attention_range_per_mode() {
    let insp = inspection();
    let m = |mode| {
        let r = attention_range(&insp, 0, 0, mode);
        assert_eq!(r.lo, 0.0);
        r.hi
    };
    assert_eq!(m(Normalization::PerMap), 0.3);
    assert_eq!(m(Normalization::PerLayer), 0.4);
    assert_eq!(m(Normalization::PerPass), 0.5);
    assert_eq!(m(Normalization::Global), 0.6);
}

#[test]
fn range_unit_maps_and_clamps() {
    let r = Range { lo: -2.0, hi: 2.0 };
    assert_eq!([r.unit(-2.0), r.unit(0.0), r.unit(1.0), r.unit(2.0)], [0.0, 0.5, 0.75, 1.0]);
    assert_eq!([r.unit(-9.0), r.unit(9.0)], [0.0, 1.0]);
    assert!(r.unit(f32::NAN).is_nan());
    assert_eq!(Range { lo: 1.0, hi: 1.0 }.unit(1.0), 0.5);
    assert_eq!(serde_json::to_string(&Normalization::PerLayer).unwrap(), "\"perlayer\"");
}

// ---------- rasters ----------

const MAP: [f32; 4] = [0.0, 1.0, 2.0, 3.0]; // 2×2, value = 2·row + col

#[test]
fn nearest_upscaling_gives_exact_blocks() {
    let v = resample(&MAP, 2, 2, 4, 4, Interp::Nearest);
    #[rustfmt::skip]
    assert_eq!(v, [0., 0., 1., 1.,
                   0., 0., 1., 1.,
                   2., 2., 3., 3.,
                   2., 2., 3., 3.]);
    // Pixel centres pick the cell, symmetrically: 3 cells over 4 pixels read 0, 1, 1, 2.
    assert_eq!(resample(&[0.0, 1.0, 2.0], 1, 3, 4, 1, Interp::Nearest), [0.0, 1.0, 1.0, 2.0]);
    let range = Range { lo: 0.0, hi: 3.0 };
    let img = heatmap(&MAP, 2, 2, 4, 4, range, ColorMap::Sequential, Interp::Nearest);
    for (x, y, px) in img.enumerate_pixels() {
        let cell = MAP[(y / 2 * 2 + x / 2) as usize];
        assert_eq!(px.0, ColorMap::Sequential.rgb(range.unit(cell)), "pixel {x},{y}");
    }
}

#[test]
fn bilinear_uses_half_pixel_centres() {
    // Centres of output pixels 0..4 fall at source coordinates -0.25, 0.25, 0.75, 1.25
    // (clamped at the edges); the map is linear, so bilinear reproduces it exactly there.
    let v = resample(&MAP, 2, 2, 4, 4, Interp::Bilinear);
    let s = [0.0, 0.25, 0.75, 1.0];
    for y in 0..4 {
        for x in 0..4 {
            assert!(close(v[y * 4 + x], 2.0 * s[y] + s[x]), "({x},{y}): {}", v[y * 4 + x]);
        }
    }
    assert!(close(v[4 + 1], 0.75) && close(v[2 * 4 + 2], 2.25));
    // Same size: the map itself.
    assert_eq!(resample(&MAP, 2, 2, 2, 2, Interp::Bilinear), MAP);
    // A short map reads NaN where cells are missing instead of panicking.
    assert!(resample(&MAP[..3], 2, 2, 2, 2, Interp::Nearest)[3].is_nan());
}

#[test]
fn heatmap_centres_zero_on_neutral() {
    let img = heatmap(&[-1.0, 0.0, 1.0], 1, 3, 3, 1, Range { lo: -1.0, hi: 1.0 }, ColorMap::Diverging, Interp::Nearest);
    assert_eq!(img.get_pixel(1, 0).0, ColorMap::Diverging.rgb(0.5));
    assert_eq!(img.get_pixel(0, 0).0, ColorMap::Diverging.rgb(0.0));
    assert_eq!(img.get_pixel(2, 0).0, ColorMap::Diverging.rgb(1.0));
}

#[test]
fn overlay_blends_by_opacity() {
    let base = RgbImage::from_fn(3, 2, |x, y| Rgb([10 * x as u8, 20 * y as u8, 200]));
    let heat = RgbImage::from_pixel(3, 2, Rgb([250, 100, 0]));
    // The base is shown in grey: (0, 0) is [0, 0, 200], luminance 0.0722 · 200 = 14.4 → 14.
    let grey = overlay(&base, &heat, 0.0);
    assert_eq!(grey.get_pixel(0, 0).0, [14; 3]);
    assert_eq!(grey.get_pixel(2, 1).0, [(0.2126f32 * 20.0 + 0.7152 * 20.0 + 0.0722 * 200.0).round() as u8; 3]);
    assert_eq!(overlay(&base, &heat, 1.0), heat);
    assert_eq!(overlay(&base, &heat, 0.5).get_pixel(0, 0).0, [132, 57, 7]);
    // Another size is stretched over the base.
    let small = RgbImage::from_pixel(1, 1, Rgb([250, 100, 0]));
    assert_eq!(overlay(&base, &small, 1.0), heat);
}

#[test]
fn value_at_picks_the_cell_under_the_point() {
    let map = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 rows × 3 columns
    assert_eq!(value_at(&map, 2, 3, 0.0, 0.0), 1.0);
    assert_eq!(value_at(&map, 2, 3, 0.5, 0.2), 2.0);
    assert_eq!(value_at(&map, 2, 3, 0.99, 0.6), 6.0);
    assert_eq!(value_at(&map, 2, 3, 1.0, 1.0), 6.0);
    assert_eq!(value_at(&map, 2, 3, 0.34, 0.51), 5.0);
    assert!(value_at(&[], 0, 0, 0.5, 0.5).is_nan());
}

#[test]
fn legend_runs_from_low_to_high() {
    let r = Range { lo: -1.0, hi: 1.0 };
    let bar = legend(r, ColorMap::Diverging, 10, 100);
    let (top, bottom) = (bar.get_pixel(5, 0).0, bar.get_pixel(5, 99).0);
    assert!(leads(top, 0) && leads(bottom, 2), "red on top, blue below: {top:?} {bottom:?}");
    let bar = legend(r, ColorMap::Diverging, 100, 10);
    assert_eq!(bar.get_pixel(0, 5).0, bottom);
    assert_eq!(bar.get_pixel(99, 5).0, top);
}

#[test]
fn map_images_keep_the_aspect_and_skip_dense_layers() {
    let insp = inspection();
    let view = MapView { size: 64, ..MapView::default() };
    assert_eq!(agreement_image(&insp, 0, 1, &view).unwrap().dimensions(), (64, 32));
    assert!(agreement_image(&insp, 0, 2, &view).is_none(), "dense");
    assert!(agreement_image(&insp, 3, 0, &view).is_none(), "no such pass");
    let img = attention_image(&insp, 1, 1, &view).unwrap();
    assert_eq!(img.dimensions(), (64, 32));
    // Per-map scale: the head's largest weight takes the top colour.
    assert_eq!(img.get_pixel(63, 0).0, ColorMap::Diverging.rgb(1.0));
}

// ---------- charts ----------

// The SVG tests run natively, where no font is registered under the SVG charts' family:
// a chart that measured text would fail here, and on wasm it would need the DOM.

#[test]
fn topk_svg_names_classes_and_highlights_top1() {
    let insp = inspection();
    let svg = topk_chart_svg(&insp.passes[1], 2, Fit::Wide);
    assert!(svg.starts_with("<svg"));
    assert!(has_text(&svg, "dog") && has_text(&svg, "ship") && !has_text(&svg, "cat"), "top 2 only");
    assert!(has_text(&svg, "70.0%"));
    assert_eq!(svg.matches(&format!("fill=\"{}\"", hex(HIGHLIGHT))).count(), 2, "top-1 bar and name");
}

#[test]
fn dense_svg_labels_classes_and_highlights_one() {
    let insp = inspection();
    let fc = &insp.passes[0].layers[2];
    let svg = dense_agreement_chart_svg(fc, Some(&insp.classes), Some(1), None, Fit::Wide);
    for c in &insp.classes {
        assert!(has_text(&svg, c), "{c}");
    }
    assert_eq!(svg.matches(&format!("fill=\"{}\"", hex(HIGHLIGHT))).count(), 2, "dog's bar and name");
    // For phones: the same chart on a canvas about half as wide, so its text shows larger.
    let narrow = dense_agreement_chart_svg(fc, Some(&insp.classes), Some(1), None, Fit::Narrow);
    assert!(svg.contains("width=\"1000\"") && narrow.contains("width=\"560\""), "{}", &narrow[..120]);
    assert!(insp.classes.iter().all(|c| has_text(&narrow, c)));
    let plain = dense_agreement_chart_svg(fc, None, None, None, Fit::Wide);
    assert!(!plain.contains(&hex(HIGHLIGHT)) && !has_text(&plain, "dog"));
    // A shared scale (e.g. the same layer in every pass) widens the axis to ±span.
    let own = fc.agreement.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(own < 100.0, "{own}");
    let shared = dense_agreement_chart_svg(fc, None, None, Some(1000.0), Fit::Wide);
    assert!(has_text(&shared, "1000") && has_text(&shared, "-1000") && !has_text(&plain, "1000"));
}

#[test]
fn pass_and_alpha_svgs_show_their_labels() {
    let insp = inspection();
    let svg = top1_across_passes_svg(&insp, Fit::Wide);
    assert!(has_text(&svg, "pass 0") && has_text(&svg, "pass 1") && has_text(&svg, "dog"));
    assert!(svg.contains(&hex(categorical(0))) && svg.contains(&hex(categorical(2))));
    let svg = alpha_chart_svg(&insp, Fit::Narrow);
    assert!(has_text(&svg, "conv0") && has_text(&svg, "conv1") && has_text(&svg, "-0.100"));
}

#[test]
fn charts_of_empty_data_still_render() {
    let mut insp = inspection();
    insp.passes.clear();
    insp.alphas.clear();
    assert!(top1_across_passes_svg(&insp, Fit::Wide).contains("</svg>"));
    assert!(alpha_chart_svg(&insp, Fit::Narrow).contains("</svg>"));
    let empty = layer("fc", LayerKind::Dense, &[0], &[]);
    assert!(dense_agreement_chart_svg(&empty, Some(&[]), Some(0), None, Fit::Narrow).contains("</svg>"));
    assert!(topk_chart_svg(&inspection().passes[0], 0, Fit::Narrow).contains("</svg>"));
}

/// Distinct colours in an image, and whether any pixel is near-black (rendered text).
fn colours(img: &RgbImage) -> (std::collections::HashSet<[u8; 3]>, bool) {
    let set: std::collections::HashSet<_> = img.pixels().map(|p| p.0).collect();
    let dark = set.iter().any(|c| c.iter().all(|&v| v < 40));
    (set, dark)
}

#[test]
fn chart_pngs_decode_with_text_and_colour() {
    let insp = inspection();
    let pngs = [
        (topk_chart_png(&insp.passes[0], 3), (1000, 150 + 3 * 56)),
        (top1_across_passes_png(&insp), (1100, 600)),
        (dense_agreement_chart_png(&insp.passes[0].layers[2], Some(&insp.classes), Some(0)), (1000, 600)),
        (alpha_chart_png(&insp), (1000, 600)),
    ];
    for (i, (png, size)) in pngs.iter().enumerate() {
        let img = decode(png);
        assert_eq!(img.dimensions(), *size, "chart {i}");
        let (set, dark) = colours(&img);
        assert!(set.len() > 2 && dark, "chart {i}: {} colours, text drawn: {dark}", set.len());
    }
    assert!(colours(&decode(&pngs[0].0)).0.contains(&HIGHLIGHT));
}

#[test]
fn heatmap_pngs_show_map_bar_and_labels() {
    let insp = inspection();
    let view = MapView { size: 128, ..MapView::default() };
    let img = decode(&heatmap_with_legend_png(&insp, 1, 0, &view).unwrap());
    assert!(img.width() > 128 + 40 && img.height() > 128);
    let (set, dark) = colours(&img);
    // Nearest 2×2 map on its own scale: its cells' colours are there exactly.
    for v in [4.0, 0.0, -2.0] {
        assert!(set.contains(&ColorMap::Diverging.rgb(Range { lo: -4.0, hi: 4.0 }.unit(v))), "{v}");
    }
    assert!(dark, "title and ticks drawn");
    assert!(heatmap_with_legend_png(&insp, 0, 2, &view).is_none(), "dense layer");

    let base = RgbImage::from_pixel(16, 8, Rgb([0, 200, 0]));
    let over = decode(&heatmap_overlay_png(&insp, 1, 0, &view, &base, 0.5).unwrap());
    assert!(over.height() < img.height(), "the map takes the base's 2:1 aspect");
    let att = decode(&attention_with_legend_png(&insp, 0, 1, &MapView { cmap: ColorMap::Sequential, ..view }).unwrap());
    assert!(colours(&att).0.contains(&ColorMap::Sequential.rgb(1.0)));
}

#[test]
fn noise_curve_png_draws_one_line_per_model_and_a_band_where_runs_differ() {
    let band = |sigma, accuracy, lo, hi| NoisePoint { sigma, accuracy, lo, hi };
    let one = |pts: &[(f32, f32)]| pts.iter().map(|&(s, a)| NoisePoint::single(s, a)).collect();
    let series = vec![
        NoiseSeries { name: "baseline".into(), points: one(&[(0.0, 0.9), (0.05, 0.85), (0.1, 0.7), (0.2, 0.4)]) },
        // three seeds: mean with the worst and best run
        NoiseSeries {
            name: "GAttANet (3 runs)".into(),
            points: vec![band(0.05, 0.88, 0.8, 0.95), band(0.1, 0.8, 0.7, 0.9), band(0.2, 0.55, 0.4, 0.7)],
        },
    ];
    let img = decode(&noise_curve_png(&series));
    assert_eq!(img.dimensions(), (1100, 650));
    let (set, dark) = colours(&img);
    assert!(set.contains(&categorical(0)) && set.contains(&categorical(1)) && dark);
    // The band is the series colour at 18 % over white; only the series with a spread has one.
    let tint = |c: [u8; 3]| c.map(|v| (255.0 - 0.18 * (255.0 - v as f32)).round() as i32);
    let has_tint = |c: [u8; 3]| {
        let t = tint(c);
        img.pixels().filter(|p| (0..3).all(|i| (p.0[i] as i32 - t[i]).abs() <= 2)).count() > 2000
    };
    assert!(has_tint(categorical(1)), "no band for the runs");
    assert!(!has_tint(categorical(0)), "a band for a single run");
}

//! Drawing the page from the App's state. Pure views: nothing here changes state except
//! through messages, and nothing recomputes the model.
use std::rc::Rc;

use web_sys::{DragEvent, HtmlInputElement, HtmlSelectElement, MouseEvent};
use yew::prelude::*;
use yew::{AttrValue, TargetCast};

use super::samples::SAMPLES;
use super::tour::{self, Target, TourMsg};
use super::{App, Hover, ModelLoad, Msg, Shown, Source};
use crate::app::backend::{Backend, Requested};
use crate::app::fetch::human_bytes;
use crate::app::render::{gradient_css, percent, png_data_url, short, signed};
use crate::inspect::{Inspection, LayerKind};
use crate::viz::{
    agreement_image, agreement_range, alpha_chart_svg, attention_image, attention_range, dense_agreement_chart_svg,
    top1_across_passes_svg, topk_chart_svg, value_at, ColorMap, Fit, Interp, MapView, Normalization, Range,
};

type Ctx = Context<App>;

impl App {
    /// A drawn image or chart of the current result, computed once per key.
    fn cached(&self, key: String, draw: impl FnOnce() -> String) -> Rc<str> {
        if let Some(v) = self.cache.borrow().get(&key) {
            return v.clone();
        }
        let v: Rc<str> = draw().into();
        self.cache.borrow_mut().insert(key, v.clone());
        v
    }

    /// Charts for the screen's width (see `charts::Fit`).
    fn fit(&self) -> Fit {
        if self.narrow { Fit::Narrow } else { Fit::Wide }
    }

    /// Map grids with a row per layer and a column per pass: when there are many layers (no
    /// sideways scrolling) and on phones (two or three maps side by side fit; six do not).
    fn grid_by_layer(&self, layers: usize, passes: usize) -> bool {
        passes <= 4 && (layers > 5 || self.narrow)
    }

    fn map_view(&self, cmap: ColorMap, h: usize, w: usize) -> MapView {
        if self.view.smooth {
            MapView { cmap, norm: self.view.norm, interp: Interp::Bilinear, size: 192 }
        } else {
            MapView { cmap, norm: self.view.norm, interp: Interp::Nearest, size: h.max(w).max(1) as u32 }
        }
    }
}

fn svg(s: &str) -> Html {
    Html::from_html_unchecked(AttrValue::from(s.trim().to_string()))
}

pub fn page(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let ondragover = link.batch_callback(|e: DragEvent| {
        e.prevent_default();
        Some(Msg::Dragging(true))
    });
    let ondragleave = link.batch_callback(|e: DragEvent| e.related_target().is_none().then_some(Msg::Dragging(false)));
    let ondrop = link.batch_callback(|e: DragEvent| {
        e.prevent_default();
        let file = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0));
        vec![Msg::Dragging(false)].into_iter().chain(file.map(Msg::OpenFile)).collect::<Vec<_>>()
    });
    html! {
        <div class={classes!("app", app.tour.is_some().then_some("touring"))} {ondragover} {ondragleave} {ondrop}>
            { header(app, ctx) }
            { banners(app, ctx) }
            <main class="layout">
                <aside class="sidebar" aria-label="Image, model and settings">
                    { image_card(app, ctx) }
                    { model_card(app, ctx) }
                    { run_card(app, ctx) }
                    { display_card(app, ctx) }
                </aside>
                <div class="content">
                    { match &app.shown {
                        Some(shown) => results(app, ctx, shown),
                        None => placeholder(app),
                    } }
                    { learn_card(app) }
                </div>
            </main>
            { footer() }
            if app.dragging {
                <div class="drop-overlay" aria-hidden="true"><p>{ "Drop the image to inspect it" }</p></div>
            }
            { camera_modal(app, ctx) }
            { tour::view(app, ctx) }
        </div>
    }
}

fn header(app: &App, ctx: &Ctx) -> Html {
    let (status, tone) = app.status();
    let tour_open = app.tour.is_some();
    let (label, reason) = match &app.engine {
        Some(e) => (e.backend.label(), e.reason.clone()),
        None => ("…", "choosing the engine".to_string()),
    };
    // The toggle forces the other engine (kept in the URL as ?backend=); WebGPU is offered only
    // where the worker found an adapter. Not while a model is being loaded: that load would be dropped.
    let toggle = match &app.engine {
        Some(e) if e.backend == Backend::WebGpu => Some(("Use CPU", Requested::Cpu)),
        Some(e) if e.webgpu => Some(("Try WebGPU", Requested::WebGpu)),
        _ => None,
    };
    html! {
        <header class="topbar">
            <div class="brand">
                <h1>{ "GAttANet Explorer" }</h1>
                <p class="tagline">{ "Watch a network's global attention at work: where each layer agrees with what the whole network is looking for, pass after pass." }</p>
            </div>
            <div class="badges">
                <button class="tour-btn" ref={app.tour_button.clone()} data-testid="tour-start" aria-haspopup="dialog"
                    aria-expanded={tour_open.to_string()} title="A short guided tour of the page, for a first look or a class"
                    onclick={ctx.link().callback(move |_| Msg::Tour(if tour_open { TourMsg::Close } else { TourMsg::Start }))}>
                    { "Tour" }
                </button>
                <span class="badge privacy" title="The model runs inside this browser tab. Nothing you open is uploaded.">
                    { lock_icon() }{ "Images never leave your device" }
                </span>
                <span class="badge engine" title={format!("Engine: {label} — {reason}")}>
                    { "Engine: " }<strong data-testid="backend">{ label }</strong>
                    <span class="reason" data-testid="backend-reason">{ format!(" · {reason}") }</span>
                    if let Some((text, to)) = toggle {
                        <button type="button" data-testid="backend-toggle" disabled={app.model_seq.is_some()}
                            title={format!("Run the model on the {} from now on", if to == Requested::Cpu { "CPU" } else { "GPU (WebGPU)" })}
                            class="engine-toggle"
                            onclick={ctx.link().callback(move |_| Msg::SetBackend(to))}>{ text }</button>
                    }
                </span>
                <span class={classes!("badge", "status", tone)} role="status" aria-live="polite">
                    <span class="dot" aria-hidden="true"></span><span data-testid="status">{ status }</span>
                </span>
            </div>
        </header>
    }
}

fn lock_icon() -> Html {
    svg(r#"<svg class="icon-lock" viewBox="0 0 16 16" aria-hidden="true" width="14" height="14"><path fill="currentColor" d="M4 7V5a4 4 0 1 1 8 0v2h.5A1.5 1.5 0 0 1 14 8.5v5a1.5 1.5 0 0 1-1.5 1.5h-9A1.5 1.5 0 0 1 2 13.5v-5A1.5 1.5 0 0 1 3.5 7H4zm2 0h4V5a2 2 0 1 0-4 0v2z"/></svg>"#)
}

fn banners(app: &App, ctx: &Ctx) -> Html {
    let dismiss = ctx.link().callback(|_| Msg::DismissError);
    html! {
        <>
            if let Some(e) = &app.error {
                <div class="banner error" role="alert">
                    <span class="icon" aria-hidden="true">{ "⚠" }</span>
                    <p data-testid="error">{ e.clone() }</p>
                    <button class="ghost" onclick={dismiss.clone()} aria-label="Dismiss this message">{ "Dismiss" }</button>
                </div>
            }
            if let Some(n) = &app.notice {
                <div class="banner notice" role="status">
                    <p data-testid="notice">{ n.clone() }</p>
                    <button class="ghost" onclick={dismiss} aria-label="Dismiss this message">{ "OK" }</button>
                </div>
            }
        </>
    }
}

fn image_card(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let onchange = link.batch_callback(|e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        let file = input.files().and_then(|f| f.get(0));
        input.set_value("");
        file.map(Msg::OpenFile)
    });
    let current_sample = app.shown.as_ref().and_then(|s| match s.image.source {
        Source::Sample(id) => Some(id),
        _ => None,
    });
    html! {
        <section class={classes!("card", app.tour_class(Target::Image))} aria-labelledby="image-h">
            <h2 id="image-h">{ "1 · Image" }</h2>
            { match &app.shown {
                Some(shown) => image_preview(app, shown),
                None => html! { <div class="preview-empty">{ "Loading the example…" }</div> },
            } }
            <div class="load-row">
                <input type="file" id="image-input" class="visually-hidden" accept="image/*"
                    data-testid="image-input" aria-label="Open an image from your device" {onchange} />
                <label for="image-input" class="button primary">{ "Open image…" }</label>
                <button class="button" onclick={link.callback(|_| Msg::StartCamera)} aria-label="Take a picture with the camera">
                    { "Camera" }
                </button>
            </div>
            <p class="hint">{ "…or drop an image anywhere on this page, or paste one (Ctrl+V). Any size or shape: the model sees the centre square." }</p>
            <h3 class="sub">{ "Examples" }</h3>
            <div class="gallery" role="group" aria-label="Example images">
                { for SAMPLES.iter().map(|s| {
                    let id = s.id;
                    let active = current_sample == Some(id);
                    html! {
                        <button class={classes!("sample", active.then_some("active"))} aria-pressed={active.to_string()}
                            title={s.alt} onclick={link.callback(move |_| Msg::PickSample(id))}>
                            <img src={s.file} alt={s.alt} loading="lazy" />
                            <span>{ s.label }</span>
                        </button>
                    }
                }) }
            </div>
        </section>
    }
}

fn image_preview(_app: &App, shown: &Shown) -> Html {
    let [ow, oh] = shown.original;
    let c = shown.crop;
    let pct = |a: u32, b: u32| 100.0 * f64::from(a) / f64::from(b.max(1));
    let crop_style = format!(
        "left:{:.3}%;top:{:.3}%;width:{:.3}%;height:{:.3}%",
        pct(c.x, ow),
        pct(c.y, oh),
        pct(c.width, ow),
        pct(c.height, oh)
    );
    let [h, w] = shown.inspection.input_size;
    let cropped = c.width != ow || c.height != oh;
    html! {
        <div class="preview">
            <figure class="original">
                <div class="crop-wrap">
                    <img src={shown.image.display.url.clone()} alt={format!("The image: {}", shown.image.name())} />
                    if cropped { <div class="crop" style={crop_style} aria-hidden="true"></div> }
                </div>
                <figcaption>
                    <strong>{ shown.image.name() }</strong>
                    { format!(" · {ow}×{oh} px") }
                    if cropped { { format!(" · the outlined {}×{} centre is used", c.width, c.height) } }
                </figcaption>
            </figure>
            <figure class="seen">
                <img class="pixelated" src={shown.view_url.clone()} alt={format!("What the model sees: the image scaled to {w}×{h} pixels")} />
                <figcaption>{ format!("Model's view: {w}×{h}") }</figcaption>
            </figure>
        </div>
    }
}

fn model_card(app: &App, ctx: &Ctx) -> Html {
    let onchange = ctx.link().callback(|e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        Msg::SelectModel(sel.value())
    });
    let current = app.model.as_ref().map(|m| m.entry.name.clone());
    let entries = app.manifest.clone().unwrap_or_default();
    let progress = match &app.model_load {
        ModelLoad::Downloading { name, loaded, total } => html! {
            <div class="progress">
                <progress max={total.unwrap_or(0.0).max(*loaded).max(1.0).to_string()} value={loaded.to_string()}
                    aria-label={format!("Downloading {name}")}></progress>
                <span>{ format!("Downloading {name}: {}{}", human_bytes(*loaded), total.map(|t| format!(" of {}", human_bytes(t))).unwrap_or_default()) }</span>
            </div>
        },
        ModelLoad::Building { name } => html! { <div class="progress"><span>{ format!("Preparing {name}…") }</span></div> },
        ModelLoad::Idle => html! {},
    };
    let info = app.model.as_ref().map(|m| {
        let e = &m.entry;
        let att = m.config.attention.as_ref();
        html! {
            <>
                if let Some(d) = &e.description { <p class="desc">{ d.clone() }</p> }
                <dl class="facts">
                    <dt>{ "Test accuracy" }</dt><dd>{ e.accuracy.map(|a| format!("{:.1}%", a * 100.0)).unwrap_or_else(|| "not measured".into()) }</dd>
                    <dt>{ "Download" }</dt><dd>{ format!("{} (ready in {:.0} ms)", human_bytes(m.weights.len() as f64), m.build_ms) }</dd>
                    <dt>{ "Input" }</dt><dd>{ format!("{}×{} {}", m.config.input.size[1], m.config.input.size[0], if m.config.input.channels == 1 { "grey" } else { "colour" }) }</dd>
                    <dt>{ "Attention" }</dt><dd>{ match att {
                        Some(a) => format!("GAttANet, d = {}, trained with {} passes", a.dim, a.passes),
                        None => "none (plain network)".into(),
                    } }</dd>
                </dl>
            </>
        }
    });
    html! {
        <section class="card" aria-labelledby="model-h">
            <h2 id="model-h">{ "2 · Model" }</h2>
            <label class="field-label" for="model-select">{ "Network" }</label>
            <select id="model-select" data-testid="model-select" ref={app.model_select.clone()} {onchange} disabled={entries.is_empty()}>
                { for entries.iter().map(|e| {
                    let mut label = e.name.clone();
                    if let Some(a) = e.accuracy { label.push_str(&format!(" — {:.0}%", a * 100.0)); }
                    if let Some(b) = e.bytes { label.push_str(&format!(" — {}", human_bytes(b as f64))); }
                    html! { <option value={e.name.clone()} selected={current.as_deref() == Some(e.name.as_str())}>{ label }</option> }
                }) }
            </select>
            { progress }
            { info.unwrap_or_default() }
        </section>
    }
}

fn run_card(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let has_attention = app.model.as_ref().is_some_and(|m| m.config.attention.is_some());
    let passes = app
        .passes
        .or_else(|| app.shown.as_ref().and_then(|s| s.inspection.options.passes))
        .or_else(|| app.model.as_ref().and_then(|m| m.config.attention.as_ref().map(|a| a.passes)))
        .unwrap_or(1);
    let on_passes = link.batch_callback(|e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        input.value().trim().parse::<usize>().ok().map(Msg::SetPasses)
    });
    let on_alpha = link.callback(|e: InputEvent| {
        let input: HtmlInputElement = e.target_unchecked_into();
        Msg::SetAlpha(input.value().parse().unwrap_or(1.0))
    });
    let timing = app.shown.as_ref().map(|s| {
        let decode = if s.decode_ms > 0.0 { format!(" + {:.0} ms to decode the image", s.decode_ms) } else { String::new() };
        let on = match s.backend {
            Backend::WebGpu => " with WebGPU",
            Backend::Cpu => " on the CPU",
        };
        format!("Computed in {:.0} ms{on}{decode}.", s.run_ms)
    });
    html! {
        <section class={classes!("card", app.tour_class(Target::Run))} aria-labelledby="run-h">
            <h2 id="run-h">{ "3 · Run" }</h2>
            if !has_attention && app.model.is_some() {
                <p class="hint">{ "This model has no GAttANet layers: one plain pass." }</p>
            }
            <div class="field">
                <label class="field-label" for="passes">{ "Passes" }</label>
                <div class="stepper-input">
                    <button class="button small" aria-label="Fewer passes" disabled={!has_attention || passes <= 1}
                        onclick={link.callback(move |_| Msg::SetPasses(passes.saturating_sub(1).max(1)))}>{ "−" }</button>
                    <input id="passes" type="number" min="1" max="8" value={passes.to_string()} data-testid="passes"
                        disabled={!has_attention} onchange={on_passes} />
                    <button class="button small" aria-label="More passes" disabled={!has_attention || passes >= 8}
                        onclick={link.callback(move |_| Msg::SetPasses(passes + 1))}>{ "+" }</button>
                </div>
                <p class="hint">{ "Pass 0 is a plain feed-forward pass; each later pass is modulated by the agreement of the one before." }</p>
            </div>
            <div class="field">
                <label class="field-label" for="alpha">
                    { "Attention strength (α × " }<output for="alpha">{ format!("{:.2}", app.alpha) }</output>{ ")" }
                </label>
                <input id="alpha" type="range" min="0" max="3" step="0.05" value={app.alpha.to_string()}
                    data-testid="alpha" disabled={!has_attention} oninput={on_alpha} />
                <div class="range-ends"><span>{ "0 = off" }</span><span>{ "1 = as trained" }</span><span>{ "3" }</span></div>
            </div>
            if let Some(t) = timing { <p class="timing">{ t }</p> }
        </section>
    }
}

fn radio_group<T: Copy + PartialEq + 'static>(
    ctx: &Ctx,
    name: &'static str,
    legend: &str,
    options: &[(T, &str)],
    current: T,
    msg: fn(T) -> Msg,
) -> Html {
    html! {
        <fieldset class="segmented">
            <legend class="field-label">{ legend }</legend>
            <div class="segments">
                { for options.iter().map(|&(v, label)| {
                    let id = format!("{name}-{}", label.to_lowercase().replace(' ', "-").replace(',', ""));
                    html! {
                        <>
                            <input type="radio" id={id.clone()} name={name} checked={v == current}
                                onchange={ctx.link().callback(move |_| msg(v))} />
                            <label for={id}>{ label }</label>
                        </>
                    }
                }) }
            </div>
        </fieldset>
    }
}

fn display_card(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let v = &app.view;
    let on_opacity = link.callback(|e: InputEvent| {
        let input: HtmlInputElement = e.target_unchecked_into();
        Msg::SetOpacity(input.value().parse().unwrap_or(0.6))
    });
    let cmap_select = |id: &'static str, label: &str, maps: &[ColorMap], current: ColorMap, msg: fn(ColorMap) -> Msg| {
        let maps = maps.to_vec();
        let onchange = link.callback(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            let i: usize = sel.value().parse().unwrap_or(0);
            msg(ColorMap::all().get(i).copied().unwrap_or_default())
        });
        html! {
            <div class="field">
                <label class="field-label" for={id}>{ label }</label>
                <div class="cmap-row">
                    <select id={id} {onchange}>
                        { for maps.iter().map(|m| {
                            let i = ColorMap::all().iter().position(|x| x == m).unwrap_or(0);
                            html! { <option value={i.to_string()} selected={*m == current}>{ m.name() }</option> }
                        }) }
                    </select>
                    <span class="swatch" style={format!("background:{}", gradient_css(current))} aria-hidden="true"></span>
                </div>
            </div>
        }
    };
    let norms: Vec<(Normalization, &str)> = vec![
        (Normalization::PerMap, "Each map"),
        (Normalization::PerLayer, "Per layer"),
        (Normalization::PerPass, "Per pass"),
        (Normalization::Global, "Global"),
    ];
    html! {
        <section class={classes!("card", app.tour_class(Target::Display))} aria-labelledby="display-h">
            <h2 id="display-h">{ "4 · Display" }</h2>
            <div class="field">
                <label class="field-label" for="opacity">{ format!("Map opacity: {:.0}%", v.opacity * 100.0) }</label>
                <input id="opacity" type="range" min="0" max="1" step="0.05" value={v.opacity.to_string()}
                    data-testid="opacity" oninput={on_opacity} />
            </div>
            { radio_group(ctx, "norm", "Colour scale shared by", &norms, v.norm, Msg::SetNorm) }
            <p class="hint">{ match v.norm {
                Normalization::PerMap => "Each map uses its own range: best contrast, but colours are not comparable between maps.",
                Normalization::PerLayer => "One range per layer across all passes: shows how a layer's map changes from pass to pass.",
                Normalization::PerPass => "One range per pass across its conv layers: compare layers within a pass.",
                Normalization::Global => "One range for every conv map: everything comparable, weak maps look faint.",
            } }</p>
            { cmap_select("cmap", "Agreement colours (signed)", &[ColorMap::Diverging, ColorMap::PurpleOrange], v.cmap, Msg::SetCmap) }
            { cmap_select("acmap", "Attention colours (weights ≥ 0)", &[ColorMap::Sequential, ColorMap::Cividis, ColorMap::Greys], v.acmap, Msg::SetAcmap) }
            { radio_group(ctx, "cells", "Map cells", &[(false, "Blocks"), (true, "Smooth")], v.smooth, Msg::SetSmooth) }
            { radio_group(ctx, "base", "Under the maps", &[(false, "Model's view"), (true, "Original")], v.photo, Msg::SetPhoto) }
            { radio_group(ctx, "shown", "Passes shown", &[(true, "All passes"), (false, "Selected pass")], v.all_passes, Msg::SetAllPasses) }
        </section>
    }
}

fn placeholder(app: &App) -> Html {
    let (status, _) = app.status();
    html! {
        <section class="card placeholder" aria-busy="true">
            <h2>{ "Preparing the worked example" }</h2>
            <p>{ format!("Status: {status}. The first visit downloads the model once; after that it opens instantly.") }</p>
            <div class="skeleton"></div>
        </section>
    }
}

fn pass_name(p: usize) -> String {
    if p == 0 {
        "Pass 0 · plain".into()
    } else {
        format!("Pass {p}")
    }
}

fn results(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    html! {
        <>
            { prediction_card(app, ctx, shown) }
            { agreement_card(app, ctx, shown) }
            { dense_card(app, ctx, shown) }
            { attention_card(app, ctx, shown) }
            { compare_card(app, shown) }
            { alpha_card(app, shown) }
        </>
    }
}

fn prediction_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let link = ctx.link();
    let insp = &shown.inspection;
    let n = insp.passes.len();
    let p = app.view.pass.min(n.saturating_sub(1));
    let last = insp.prediction();
    let topk = app.cached(format!("topk-{p}-{:?}", app.fit()), || topk_chart_svg(&insp.passes[p], 5, app.fit()));
    let story = if p == 0 {
        "Pass 0 is a plain feed-forward pass: nothing is modulated yet. Its agreement maps decide how the next pass is modulated.".to_string()
    } else {
        format!("Pass {p}: every attended layer's activations were multiplied by 1 + α·g, where g is the agreement computed in pass {}.", p - 1)
    };
    html! {
        <section class={classes!("card", "prediction-card", app.tour_class(Target::Prediction))} aria-labelledby="pred-h">
            <div class="pred-grid">
                <div>
                    <h2 id="pred-h">{ "Prediction" }</h2>
                    <p class="big-pred">
                        <img class="pred-thumb pixelated" src={shown.view_url.clone()} alt="" />
                        if let Some(t) = last {
                            <span class="class-name" data-testid="prediction">{ t.class.clone() }</span>
                            <span class="prob">{ percent(t.p) }</span>
                        }
                    </p>
                    <p class="muted">{ format!("after {} pass{} · {}", n, if n == 1 { "" } else { "es" }, insp.model) }</p>
                </div>
                <figure class="chart" role="img" aria-label={format!("Top 5 classes in pass {p}")}>{ svg(&topk) }</figure>
            </div>
            <div class="pred-foot">
                { pass_stepper(ctx, n, p, app.playing.is_some()) }
                <div class="toolbar" role="group" aria-label="Export and share">
                    <button class="button" onclick={link.callback(|_| Msg::ExportPng)} title="Download the maps on screen as one PNG">{ "Save PNG" }</button>
                    <button class="button" onclick={link.callback(|_| Msg::ExportJson)} title="Download every map and number as inspection.json">{ "Save JSON" }</button>
                    <button class="button" onclick={link.callback(|_| Msg::CopyLink)} title="Copy a link that reopens this view">{ "Copy link" }</button>
                </div>
            </div>
            <p class="story">{ story }</p>
        </section>
    }
}

fn pass_stepper(ctx: &Ctx, n: usize, p: usize, playing: bool) -> Html {
    let link = ctx.link();
    let play = html! {
        <button class={classes!("button", "play", playing.then_some("on"))} data-testid="play" aria-pressed={playing.to_string()}
            aria-label={if playing { "Stop stepping through the passes" } else { "Step through the passes automatically" }}
            disabled={n < 2} onclick={link.callback(move |_| Msg::Play(!playing))}>
            { if playing { "■ Stop" } else { "▷ Play" } }
        </button>
    };
    html! {
        <div class="pass-stepper" role="group" aria-label="Step through the passes (← and → keys)">
            <button class="button" aria-label="Previous pass" disabled={p == 0} onclick={link.callback(|_| Msg::StepPass(-1))}>{ "◀" }</button>
            <div class="pass-dots">
                { for (0..n).map(|i| html! {
                    <button class={classes!("pass-dot", (i == p).then_some("active"))} aria-pressed={(i == p).to_string()}
                        aria-label={format!("Show pass {i}")} onclick={link.callback(move |_| Msg::SetPass(i))}>
                        { pass_name(i) }
                    </button>
                }) }
            </div>
            <button class="button" aria-label="Next pass" disabled={p + 1 >= n} onclick={link.callback(|_| Msg::StepPass(1))}>{ "▶" }</button>
            { play }
            <span class="kbd-hint" aria-hidden="true">{ "← → keys" }</span>
        </div>
    }
}

fn shown_passes(app: &App, n: usize) -> Vec<usize> {
    if app.view.all_passes {
        (0..n).collect()
    } else {
        vec![app.view.pass.min(n.saturating_sub(1))]
    }
}

fn legend(cmap: ColorMap, range: Range, signed_scale: bool) -> Html {
    let (lo, hi) = if signed_scale { (signed(range.lo), signed(range.hi)) } else { (short(range.lo), short(range.hi)) };
    let label = if signed_scale {
        format!("Colour scale from {lo} to {hi}; white is 0")
    } else {
        format!("Colour scale from {lo} to {hi}")
    };
    html! {
        <div class={classes!("legend", signed_scale.then_some("signed"))} role="img" aria-label={label}>
            <span class="bar" style={format!("background:{}", gradient_css(cmap))}></span>
            <span class="ends"><span>{ lo }</span>if signed_scale { <span>{ "0" }</span> }<span>{ hi }</span></span>
        </div>
    }
}

/// The image under a map: the model's view (pixelated) or the original cropped the same way.
fn base_layer(app: &App, shown: &Shown) -> Html {
    if app.view.photo {
        let [ow, oh] = shown.original;
        let c = shown.crop;
        let size_x = 100.0 * f64::from(ow) / f64::from(c.width.max(1));
        let size_y = 100.0 * f64::from(oh) / f64::from(c.height.max(1));
        let pos = |off: u32, full: u32, part: u32| if full > part { 100.0 * f64::from(off) / f64::from(full - part) } else { 0.0 };
        let style = format!(
            "background-image:url(\"{}\");background-size:{size_x:.3}% {size_y:.3}%;background-position:{:.3}% {:.3}%",
            shown.image.display.url,
            pos(c.x, ow, c.width),
            pos(c.y, oh, c.height)
        );
        html! { <div class="base photo" {style}></div> }
    } else {
        html! { <img class="base pixelated" src={shown.view_url.clone()} alt="" /> }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum MapKind {
    Agreement(usize),
    Attention(usize),
}

fn map_cell(app: &App, ctx: &Ctx, shown: &Shown, kind: MapKind, pass: usize) -> Html {
    let insp: Rc<Inspection> = shown.inspection.clone();
    let v = &app.view;
    let (key, url, range, signed_scale, name, values, h, w, cmap) = match kind {
        MapKind::Agreement(l) => {
            let layer = &insp.passes[pass].layers[l];
            let (h, w) = (layer.shape[0], layer.shape[1]);
            let mv = app.map_view(v.cmap, h, w);
            let key = format!("a-{pass}-{l}-{:?}-{:?}-{}", v.norm, v.cmap, v.smooth);
            let url = app.cached(key.clone(), || agreement_image(&insp, pass, l, &mv).map(|i| png_data_url(&i)).unwrap_or_default());
            (key, url, agreement_range(&insp, pass, l, v.norm), true, layer.name.clone(), layer.agreement.clone(), h, w, v.cmap)
        }
        MapKind::Attention(head) => {
            let agg = insp.passes[pass].aggregation.as_ref().expect("attention cells only with aggregation");
            let [h, w] = agg.grid;
            let mv = app.map_view(v.acmap, h, w);
            let key = format!("c-{pass}-{head}-{:?}-{:?}-{}", v.norm, v.acmap, v.smooth);
            let url = app.cached(key.clone(), || attention_image(&insp, pass, head, &mv).map(|i| png_data_url(&i)).unwrap_or_default());
            let values = agg.weights.get(head).cloned().unwrap_or_default();
            (key, url, attention_range(&insp, pass, head, v.norm), false, format!("head {}", head + 1), values, h, w, v.acmap)
        }
    };
    let hover_key = key.clone();
    let gains = match kind {
        MapKind::Agreement(l) => Some(insp.passes[pass].layers[l].gain.clone()),
        MapKind::Attention(_) => None,
    };
    let values = Rc::new(values);
    let gains = Rc::new(gains);
    let onmousemove = ctx.link().callback(move |e: MouseEvent| {
        let el: web_sys::Element = e.target_unchecked_into();
        let r = el.get_bounding_client_rect();
        let fx = ((f64::from(e.client_x()) - r.left()) / r.width().max(1.0)) as f32;
        let fy = ((f64::from(e.client_y()) - r.top()) / r.height().max(1.0)) as f32;
        let value = value_at(&values, h, w, fx, fy);
        let row = ((fy.clamp(0.0, 0.9999)) * h as f32) as usize;
        let col = ((fx.clamp(0.0, 0.9999)) * w as f32) as usize;
        let text = if signed_scale {
            let gain = (*gains).as_ref().and_then(|g| g.get(row * w + col)).copied();
            let gain = gain.filter(|_| pass > 0).map(|g| format!(" · gain in this pass ×{}", short(g))).unwrap_or_default();
            format!("row {row}, col {col}: g = {}{gain}", signed(value))
        } else {
            format!("row {row}, col {col}: weight {} ({})", short(value), percent(value))
        };
        Msg::Hover(Some(Hover { key: hover_key.clone(), text }))
    });
    let onmouseleave = ctx.link().callback(|_: MouseEvent| Msg::Hover(None));
    let readout = app.hover.as_ref().filter(|h| h.key == key).map(|h| h.text.clone());
    let selected = pass == app.view.pass;
    let onclick = ctx.link().callback(move |_| Msg::SetPass(pass));
    let alt = match kind {
        MapKind::Agreement(_) => format!("Agreement map of {name} in pass {pass}, {h}×{w}, from {} (blue) to {} (red)", signed(range.lo), signed(range.hi)),
        MapKind::Attention(_) => format!("Class-token attention of {name} in pass {pass} over a {h}×{w} patch grid, up to {}", short(range.hi)),
    };
    let stack = html! {
        <div class="map-stack" onmousemove={onmousemove} onmouseleave={onmouseleave} {onclick}>
            { base_layer(app, shown) }
            <img class={classes!("heat", (!app.view.smooth).then_some("pixelated"))} src={url.to_string()} alt={alt}
                style={format!("opacity:{}", app.view.opacity)} />
        </div>
    };
    let cls = classes!("map-cell", selected.then_some("selected"));
    let readout_html = html! { <p class="readout">{ readout.unwrap_or_else(|| "\u{a0}".into()) }</p> };
    match kind {
        MapKind::Agreement(_) => html! {
            <figure class={cls} data-testid="agreement-map" data-layer={name.clone()} data-pass={pass.to_string()} data-kind="conv">
                { stack }
                { legend(cmap, range, signed_scale) }
                { readout_html }
            </figure>
        },
        MapKind::Attention(head) => html! {
            <figure class={cls} data-testid="attention-map" data-head={head.to_string()} data-pass={pass.to_string()}>
                { stack }
                { legend(cmap, range, signed_scale) }
                <p class="self-weight">{ format!("to itself: {}", percent(insp.passes[pass].aggregation.as_ref().and_then(|a| a.self_weight.get(head)).copied().unwrap_or(0.0))) }</p>
                { readout_html }
            </figure>
        },
    }
}

/// A grid of maps: one row per pass shown (time runs down) and one column per layer or head
/// (depth runs right). With more than five layers, and on phones, each layer becomes a block with
/// its passes side by side, and the blocks flow (see `App::grid_by_layer`), so that nothing needs
/// sideways scrolling. `heads` label the layers, `cell(pass, i)` draws one.
fn pass_grid(app: &App, ctx: &Ctx, passes: &[usize], heads: Vec<Html>, min: &str, max: &str, cell: impl Fn(usize, usize) -> Html) -> Html {
    let n = heads.len();
    let pass_head = |p: usize| {
        let selected = p == app.view.pass;
        html! {
            <button class={classes!("pass-head", selected.then_some("selected"))}
                aria-pressed={selected.to_string()} aria-label={format!("Select pass {p}")}
                onclick={ctx.link().callback(move |_| Msg::SetPass(p))}>
                <strong>{ format!("Pass {p}") }</strong>
                <span>{ if p == 0 { "plain" } else { "modulated" } }</span>
            </button>
        }
    };
    if app.grid_by_layer(n, passes.len()) {
        // A block per layer (its name, then its passes side by side), flowing two or three to a
        // row on wide screens and one per row on phones; the pass buttons head the flow.
        let np = passes.len();
        let block = format!("grid-template-columns: repeat({np}, minmax(0, 1fr)); flex-basis: {}rem; max-width: {}rem", np * 11, np * 17);
        let caption = |p: usize| html! { <div class={classes!("col-cap", (p == app.view.pass).then_some("selected"))}>{ format!("pass {p}") }</div> };
        return html! {
            <div class="map-grid-scroll">
                <div class="pass-heads">{ for passes.iter().map(|&p| pass_head(p)) }</div>
                <div class={classes!("map-grid", "by-layer", app.narrow.then_some("narrow"))}>
                    { for heads.into_iter().enumerate().map(|(i, h)| html! {
                        <div class="layer-block" style={block.clone()}>
                            <div class="row-head">{ h }</div>
                            if np > 1 { { for passes.iter().map(|&p| caption(p)) } }
                            { for passes.iter().map(|&p| cell(p, i)) }
                        </div>
                    }) }
                </div>
            </div>
        };
    }
    let style = format!("grid-template-columns: max-content repeat({n}, minmax({min}, {max}))");
    html! {
        <div class="map-grid-scroll">
            <div class="map-grid" {style}>
                <div class="grid-corner"></div>
                { for heads.into_iter().map(|h| html! { <div class="col-head">{ h }</div> }) }
                { for passes.iter().map(|&p| html! {
                    <>
                        { pass_head(p) }
                        { for (0..n).map(|c| cell(p, c)) }
                    </>
                }) }
            </div>
        </div>
    }
}

fn caveat_line() -> Html {
    html! {
        <p class="caveat-line">
            <b>{ "Not an explanation: " }</b>
            { "these maps show what the attention mechanism computed, not why the network decided. " }
            <a href="#learn">{ "More in Learn" }</a>
        </p>
    }
}

fn agreement_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let passes = shown_passes(app, insp.passes.len());
    let conv: Vec<usize> =
        insp.passes[0].layers.iter().enumerate().filter(|(_, l)| l.kind == LayerKind::Conv).map(|(i, _)| i).collect();
    if conv.is_empty() {
        return html! {};
    }
    let alpha_of = |name: &str| insp.alphas.iter().find(|a| a.name == name).map(|a| a.used);
    let heads: Vec<Html> = conv
        .iter()
        .map(|&l| {
            let layer = &insp.passes[0].layers[l];
            html! {
                <>
                    <strong>{ layer.name.clone() }</strong>
                    <span>{ format!("{}×{}", layer.shape[0], layer.shape[1]) }
                        if let Some(a) = alpha_of(&layer.name) { { format!(" · α {}", short(a)) } }
                    </span>
                </>
            }
        })
        .collect();
    let (min, max) = ("8rem", "17rem");
    html! {
        <section class={classes!("card", app.tour_class(Target::Agreement))} aria-labelledby="agree-h">
            <h2 id="agree-h">{ "Agreement maps: where each layer agrees with the global query" }</h2>
            <p class="explain">
                { "Every position of a layer emits a " }<b>{ "key" }</b>{ " (what is here) and a " }<b>{ "query" }</b>
                { " (what to look for). All queries are averaged into one " }<b>{ "global query" }</b>
                { ". The agreement g = key · global query is " }<span class="pos">{ "red where a position matches" }</span>
                { " what the whole network is looking for, " }<span class="neg">{ "blue where it does not" }</span>
                { ", white near 0. The next pass multiplies activations by 1 + α·g, so where α\u{a0}>\u{a0}0 it boosts the red positions and damps the blue ones. " }
                { negative_alpha_note(insp, LayerKind::Conv, "the blue positions and damps the red ones") }
                { if app.grid_by_layer(conv.len(), passes.len()) { "Each layer shows its passes side by side; deeper layers follow." } else { "Rows are passes, columns go deeper into the network." } }
                { " Hover a map for its values." }
            </p>
            { pass_grid(app, ctx, &passes, heads, min, max, |p, c| map_cell(app, ctx, shown, MapKind::Agreement(conv[c]), p)) }
            { caveat_line() }
        </section>
    }
}

/// Names the layers of a kind whose α (as used) is negative: there the next pass boosts what
/// disagrees, and reading the maps as "red is boosted" would get those layers backwards.
fn negative_alpha_note(insp: &Inspection, kind: LayerKind, effect: &str) -> Html {
    let names: Vec<&str> = insp.passes[0]
        .layers
        .iter()
        .filter(|l| l.kind == kind && insp.alphas.iter().any(|a| a.name == l.name && a.used < 0.0))
        .map(|l| l.name.as_str())
        .collect();
    let text = match names.as_slice() {
        [] => return html! {},
        [one] => format!("Here {one} has α\u{a0}<\u{a0}0: in that layer the next pass boosts {effect}. "),
        [init @ .., last] => format!("Here {} and {last} have α\u{a0}<\u{a0}0: in those layers the next pass boosts {effect}. ", init.join(", ")),
    };
    html! { <span class="alpha-note" data-layers={names.join(",")}>{ text }</span> }
}

fn dense_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let passes = shown_passes(app, insp.passes.len());
    let dense: Vec<usize> =
        insp.passes[0].layers.iter().enumerate().filter(|(_, l)| l.kind == LayerKind::Dense).map(|(i, _)| i).collect();
    if dense.is_empty() {
        return html! {};
    }
    // Not the map grid: these charts are drawn 1000 px wide, and squeezed into grid columns their
    // axis labels shrank to a few pixels (1024-px projector screenshot). Each chart gets at least
    // 32rem (labels about 11 px); the passes of a layer sit side by side where that fits.
    html! {
        <section class="card" aria-labelledby="dense-h">
            <h2 id="dense-h">{ "Dense layers: agreement per unit" }</h2>
            <p class="explain">
                { "Dense layers have no positions, so each unit gets one agreement value: a bar above 0 agrees with the global query, below 0 disagrees. In the class layer (logits) each bar is a class; the predicted class of that pass is highlighted, as in Fig. 3 of the GAttANet paper. The next pass multiplies each unit by 1 + α·g. " }
                { negative_alpha_note(insp, LayerKind::Dense, "the units below 0 and damps those above") }
            </p>
            { for dense.iter().map(|&l| {
                let layer0 = &insp.passes[0].layers[l];
                let n = layer0.shape.first().copied().unwrap_or(0);
                let what = if layer0.name == "logits" { format!("{n} classes") } else { format!("{n} units") };
                html! {
                    <div class="dense-layer">
                        <h3 class="dense-head">{ layer0.name.clone() }<span>{ format!(" · {what}") }</span></h3>
                        <div class="dense-row">
                            { for passes.iter().map(|&p| {
                                let pass = &insp.passes[p];
                                let layer = &pass.layers[l];
                                let is_logits = layer.name == "logits";
                                let chart = app.cached(format!("d-{p}-{l}-{:?}", app.fit()), || {
                                    let names = is_logits.then_some(insp.classes.as_slice());
                                    let hl = if is_logits { pass.top.first().map(|t| t.index) } else { None };
                                    dense_agreement_chart_svg(layer, names, hl, app.fit())
                                });
                                let selected = p == app.view.pass;
                                html! {
                                    <div class="dense-item">
                                        <button class={classes!("pass-head", "inline", selected.then_some("selected"))}
                                            aria-pressed={selected.to_string()} aria-label={format!("Select pass {p}")}
                                            onclick={ctx.link().callback(move |_| Msg::SetPass(p))}>
                                            <strong>{ format!("Pass {p}") }</strong>
                                            <span>{ if p == 0 { "plain" } else { "modulated" } }</span>
                                        </button>
                                        <figure class={classes!("map-cell", "dense-cell", selected.then_some("selected"))}
                                            data-testid="agreement-map" data-layer={layer.name.clone()} data-pass={p.to_string()} data-kind="dense"
                                            role="img" aria-label={format!("Agreement of each unit of {} in pass {p}", layer.name)}>
                                            { svg(&chart) }
                                        </figure>
                                    </div>
                                }
                            }) }
                        </div>
                    </div>
                }
            }) }
        </section>
    }
}

fn attention_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let Some(agg) = insp.passes[0].aggregation.as_ref() else { return html! {} };
    let passes = shown_passes(app, insp.passes.len());
    let heads: Vec<Html> = (0..agg.heads)
        .map(|h| html! { <><strong>{ format!("head {}", h + 1) }</strong><span>{ format!("{}×{} patches", agg.grid[0], agg.grid[1]) }</span></> })
        .collect();
    let (min, max) = ("8rem", "17rem");
    html! {
        <section class={classes!("card", app.tour_class(Target::Attention))} aria-labelledby="att-h">
            <h2 id="att-h">{ "Class attention: what the class token gathers from" }</h2>
            <p class="explain">
                { "This model has no average pooling at the end. Instead a learned " }<b>{ "class token" }</b>
                { " attends over all patches of the last feature map, and what it gathers decides the class. Each head spreads 100% of its attention over the patches and itself; bright patches contribute most to that head." }
            </p>
            { pass_grid(app, ctx, &passes, heads, min, max, |p, h| map_cell(app, ctx, shown, MapKind::Attention(h), p)) }
            { caveat_line() }
        </section>
    }
}

fn compare_card(app: &App, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let n = insp.passes.len();
    let off = &insp.passes[0];
    let on = &insp.passes[n - 1];
    let mut classes: Vec<usize> = on.top.iter().map(|t| t.index).collect();
    for t in &off.top {
        if !classes.contains(&t.index) {
            classes.push(t.index);
        }
    }
    classes.truncate(6);
    let bar = |p: f32, top: bool| {
        html! {
            <div class="hbar">
                <span class={classes!("fill", top.then_some("top"))} style={format!("width:{:.1}%", (p * 100.0).clamp(0.0, 100.0))}></span>
                <span class="val">{ percent(p) }</span>
            </div>
        }
    };
    let off_top = off.top.first().map(|t| t.index);
    let on_top = on.top.first().map(|t| t.index);
    html! {
        <section class="card" aria-labelledby="cmp-h">
            <h2 id="cmp-h">{ "Attention off vs on" }</h2>
            if n == 1 {
                <p class="explain">{ "Only one pass was run, so attention had no chance to act. Set Passes to 2 or more." }</p>
            } else {
                <p class="explain">
                    { format!("Off: the plain network (pass 0; exactly what the model computes with attention switched off). On: after {} modulated pass{} with α × {}.", n - 1, if n == 2 { "" } else { "es" }, short(insp.options.alpha_scale)) }
                </p>
                <table class="compare">
                    <thead><tr><th scope="col">{ "Class" }</th><th scope="col">{ "Attention off" }</th><th scope="col">{ format!("Attention on (pass {})", n - 1) }</th></tr></thead>
                    <tbody>
                        { for classes.iter().map(|&c| html! {
                            <tr>
                                <th scope="row">{ insp.classes.get(c).cloned().unwrap_or_default() }</th>
                                <td>{ bar(off.probabilities.get(c).copied().unwrap_or(0.0), off_top == Some(c)) }</td>
                                <td>{ bar(on.probabilities.get(c).copied().unwrap_or(0.0), on_top == Some(c)) }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
                <figure class="chart" role="img" aria-label="Probability of the final top classes in every pass">
                    { svg(&app.cached(format!("across-{:?}", app.fit()), || top1_across_passes_svg(insp, app.fit()))) }
                </figure>
            }
        </section>
    }
}

fn alpha_card(app: &App, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    if insp.alphas.is_empty() {
        return html! {};
    }
    let chart = app.cached(format!("alpha-{:?}", app.fit()), || alpha_chart_svg(insp, app.fit()));
    let all_zero = insp.alphas.iter().all(|a| a.learned == 0.0);
    html! {
        <section class="card" aria-labelledby="alpha-h">
            <h2 id="alpha-h">{ "α per layer: how strongly agreement modulates each layer" }</h2>
            <p class="explain">
                { "α is learned for each attended layer. The gain applied in the next pass is 1 + α·g: with α = 0 a layer ignores attention. The strength slider multiplies every α." }
                if all_zero { <b>{ " Every learned α of this model is 0 (untrained or initial weights), so attention changes nothing yet." }</b> }
            </p>
            <figure class="chart narrow" aria-label="α used at each attended layer">{ svg(&chart) }</figure>
        </section>
    }
}

fn learn_card(app: &App) -> Html {
    let has_cls = app.shown.as_ref().is_some_and(|s| s.inspection.passes[0].aggregation.is_some());
    html! {
        <section class="card learn" aria-labelledby="learn-h" id="learn">
            <h2 id="learn-h">{ "Learn: how GAttANet attention works" }</h2>
            <div class="learn-grid">
                <div>
                    <h3>{ "Key and query" }</h3>
                    <p>{ "Every position of an attended convolutional layer (and every unit of an attended dense layer) turns its activations into two short vectors with learned weights: a key, describing what is there, and a query, describing what it is looking for." }</p>
                </div>
                <div>
                    <h3>{ "One global query" }</h3>
                    <p>{ "All queries from all attended layers are averaged into a single global query: one summary, for this image, of what the whole network is looking for. It is shown to every layer at once, which is why the attention is called global." }</p>
                </div>
                <div>
                    <h3>{ "Agreement" }</h3>
                    <p>{ "Each key is compared with the global query by a dot product. Positive (red): this position matches what the network is looking for. Negative (blue): it does not. Near 0 (white): neutral. The colour scale is always centred on 0." }</p>
                </div>
                <div>
                    <h3>{ "Passes" }</h3>
                    <p>{ "Pass 0 runs the network normally and computes the agreement. In the next pass every activation is multiplied by 1 + α·g, then agreement is computed again. α is learned per layer: where it is positive, agreeing positions are boosted and the others damped; where the network learned a negative α, the other way round. Step through the passes to watch the maps and the prediction change." }</p>
                </div>
                <div class={classes!((!has_cls).then_some("dim"))}>
                    <h3>{ "The class token (attention pooling)" }</h3>
                    <p>{ "PatchConvNet-style models replace the final average pooling with a learned class token that attends over all patches. Its attention weights per head show which patches it gathers information from to decide the class." }</p>
                </div>
                <div class={classes!("caveat", app.tour_class(Target::Caveat))}>
                    <h3>{ "Attention is not an explanation" }</h3>
                    <p>{ "These maps show what the attention mechanism computed, not why the network decided. A region can agree strongly and hardly matter for the prediction, and the other way round. Use them to ask questions, not as proof." }</p>
                </div>
            </div>
            <p class="privacy-note">
                { lock_icon() }
                { " Your images never leave your device. The model runs in this browser tab (WebAssembly, in a background worker); the page only downloads itself, the example images and the model, and uploads nothing." }
            </p>
        </section>
    }
}

fn footer() -> Html {
    html! {
        <footer class="footer">
            <p>
                { "GAttANet: R. VanRullen & A. Alamia, “GAttANet: Global attention agreement for convolutional neural networks” (2021). Attention pooling: H. Touvron et al., “Augmenting Convolutional networks with attention-based aggregation” (2021). Example images: CIFAR-10 test set (Krizhevsky, 2009). Built with Rust, WebAssembly, candle and Yew." }
            </p>
        </footer>
    }
}

fn camera_modal(app: &App, ctx: &Ctx) -> Html {
    if app.camera.is_none() {
        return html! {};
    }
    let link = ctx.link();
    html! {
        <div class="modal-backdrop">
            <div class="modal" role="dialog" aria-modal="true" aria-labelledby="cam-h">
                <h2 id="cam-h">{ "Camera" }</h2>
                <video ref={app.video_ref.clone()} autoplay={true} playsinline={true} muted={true} aria-label="Camera preview"></video>
                <p class="hint">{ "The picture stays on this device." }</p>
                <div class="load-row">
                    <button class="button primary" onclick={link.callback(|_| Msg::Capture)}>{ "Take picture" }</button>
                    <button class="button" onclick={link.callback(|_| Msg::StopCamera)}>{ "Cancel" }</button>
                </div>
            </div>
        </div>
    }
}

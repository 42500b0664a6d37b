//! The sidebar's cards: the image, the model, the run options and the display options.

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;
use yew::TargetCast;

use super::Ctx;
use crate::app::backend::EngineKind;
use crate::app::fetch::human_bytes;
use crate::app::page::samples::SAMPLES;
use crate::app::page::tour::Target;
use crate::app::page::{App, ImageMsg, ModelLoad, ModelMsg, Msg, RunMsg, Shown, Source, ViewMsg};
use crate::app::render::gradient_css;
use crate::app::url_state::{MAX_ALPHA_SCALE, MAX_PASSES};
use crate::viz::{ColorMap, Normalization};

pub(super) fn image_card(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let onchange = link.batch_callback(|e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        let file = input.files().and_then(|f| f.get(0));
        input.set_value("");
        file.map(|f| Msg::from(ImageMsg::OpenFile(f)))
    });
    let current_sample = app.jobs.shown.as_ref().and_then(|s| match s.image.source {
        Source::Sample(id) => Some(id),
        _ => None,
    });
    html! {
        <section class={classes!("card", app.tour_class(Target::Image))} aria-labelledby="image-h">
            <h2 id="image-h">{ "1 · Image" }</h2>
            { match &app.jobs.shown {
                Some(shown) => image_preview(app, shown),
                None => html! { <div class="preview-empty">{ "Loading the example…" }</div> },
            } }
            <div class="load-row">
                <input type="file" id="image-input" class="visually-hidden" accept="image/*"
                    data-testid="image-input" aria-label="Open an image from your device" {onchange} />
                <label for="image-input" class="button primary">{ "Open image…" }</label>
                <button class="button" onclick={link.callback(|_| ImageMsg::StartCamera)} aria-label="Take a picture with the camera">
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
                            title={s.alt} onclick={link.callback(move |_| ImageMsg::PickSample(id))}>
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
    let crop_style =
        format!("left:{:.3}%;top:{:.3}%;width:{:.3}%;height:{:.3}%", pct(c.x, ow), pct(c.y, oh), pct(c.width, ow), pct(c.height, oh));
    let [h, w] = shown.inspection.input_size;
    let cropped = c.width != ow || c.height != oh;
    // A large photo reached the model shrunk by the browser: sizes in the photo's own pixels.
    let (size, crop_size, shrunk) = match shown.image.shrunk_from {
        Some([fw, fh]) => {
            let s = f64::from(fw) / f64::from(ow.max(1));
            let scaled = |v: u32| ((f64::from(v) * s).round() as u32).min(fw.max(fh));
            ([fw, fh], [scaled(c.width), scaled(c.height)], format!(" (shrunk by the browser to {ow}×{oh})"))
        }
        None => ([ow, oh], [c.width, c.height], String::new()),
    };
    html! {
        <div class="preview">
            <figure class="original">
                <div class="crop-wrap">
                    <img src={shown.image.display.url.clone()} alt={format!("The image: {}", shown.image.name())} />
                    if cropped { <div class="crop" style={crop_style} aria-hidden="true"></div> }
                </div>
                <figcaption>
                    <strong>{ shown.image.name() }</strong>
                    { format!(" · {}×{} px{shrunk}", size[0], size[1]) }
                    if cropped { { format!(" · the outlined {}×{} centre is used", crop_size[0], crop_size[1]) } }
                </figcaption>
            </figure>
            <figure class="seen">
                <img class="pixelated" src={shown.view_url.clone()} alt={format!("What the model sees: the image scaled to {w}×{h} pixels")} />
                <figcaption>{ format!("Model's view: {w}×{h}") }</figcaption>
            </figure>
        </div>
    }
}

pub(super) fn model_card(app: &App, ctx: &Ctx) -> Html {
    let onchange = ctx.link().callback(|e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        ModelMsg::Select(sel.value())
    });
    let current = app.models.current.as_ref().map(|m| m.entry.name.clone());
    let entries = app.models.manifest.clone().unwrap_or_default();
    let progress = match &app.models.load {
        ModelLoad::Downloading { name, loaded, total } => progress_bar(&format!("Downloading {name}"), *loaded, *total),
        ModelLoad::Reading { loaded, total } => progress_bar("Reading your model", *loaded, *total),
        ModelLoad::Building { name } => html! { <div class="progress"><span>{ format!("Preparing {name}…") }</span></div> },
        ModelLoad::Idle => html! {},
    };
    let info = app.models.current.as_ref().map(|m| {
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
                    if let Some(a) = e.accuracy { label.push_str(&format!(" · {:.0}%", a * 100.0)); }
                    if let Some(b) = e.bytes { label.push_str(&format!(" · {}", human_bytes(b as f64))); }
                    html! { <option value={e.name.clone()} selected={current.as_deref() == Some(e.name.as_str())}>{ label }</option> }
                }) }
            </select>
            { progress }
            { info.unwrap_or_default() }
            { own_model_row(app, ctx) }
        </section>
    }
}

/// Bytes done out of a total (when known), for a download or the reading of a file.
fn progress_bar(what: &str, loaded: f64, total: Option<f64>) -> Html {
    html! {
        <div class="progress">
            <progress max={total.unwrap_or(0.0).max(loaded).max(1.0).to_string()} value={loaded.to_string()} aria-label={what.to_string()}></progress>
            <span>{ format!("{what}: {}{}", human_bytes(loaded), total.map(|t| format!(" of {}", human_bytes(t))).unwrap_or_default()) }</span>
        </div>
    }
}

/// "Open your model…": two files, a folder or a .zip; and removing the one kept.
fn own_model_row(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let picked = |e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        let files = input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect::<Vec<_>>()).unwrap_or_default();
        input.set_value("");
        ModelMsg::OpenOwn(files)
    };
    let busy = app.models.seq.is_some();
    html! {
        <div class="own-model">
            <div class="load-row">
                <input type="file" id="model-input" class="visually-hidden" multiple=true accept=".json,.safetensors,.zip,application/json,application/zip"
                    data-testid="model-input" aria-label="Open your own model: config.json and model.safetensors, or a .zip"
                    disabled={busy} onchange={link.callback(picked)} />
                <label for="model-input" class="button">{ "Open your model…" }</label>
                <input type="file" id="model-folder" class="visually-hidden" webkitdirectory=true data-testid="model-folder"
                    aria-label="Open your own model from a folder" disabled={busy} onchange={link.callback(picked)} />
                <label for="model-folder" class="button">{ "Folder…" }</label>
                if app.models.own.is_some() {
                    <button class="button" data-testid="remove-own-model" onclick={link.callback(|_| ModelMsg::RemoveOwn)}>
                        { "Remove yours" }
                    </button>
                }
            </div>
            <p class="hint">{ "config.json + model.safetensors as the trainer, the CLI or the Python package write them (pick both, their folder, or a .zip). It stays on this device, kept in this browser until you remove it." }</p>
        </div>
    }
}

pub(super) fn run_card(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let has_attention = app.models.current.as_ref().is_some_and(|m| m.config.attention.is_some());
    let passes = app
        .passes
        .or_else(|| app.jobs.shown.as_ref().and_then(|s| s.inspection.options.passes))
        .or_else(|| app.models.current.as_ref().and_then(|m| m.config.attention.as_ref().map(|a| a.passes)))
        .unwrap_or(1);
    let on_passes = link.batch_callback(|e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        input.value().trim().parse::<usize>().ok().map(|n| Msg::from(RunMsg::SetPasses(n)))
    });
    let on_alpha = link.callback(|e: InputEvent| {
        let input: HtmlInputElement = e.target_unchecked_into();
        RunMsg::SetAlpha(input.value().parse().unwrap_or(1.0))
    });
    let timing = app.jobs.shown.as_ref().map(|s| {
        let decode = if s.decode_ms > 0.0 { format!(" + {:.0} ms to decode the image", s.decode_ms) } else { String::new() };
        let on = match s.backend {
            EngineKind::WebGpu => " with WebGPU",
            EngineKind::Cpu => " on the CPU",
        };
        // data-alpha names the α scale this result was computed with: tests wait on it, since
        // the text alone can repeat exactly when a rerun takes the same number of milliseconds.
        (format!("Computed in {:.0} ms{on}{decode}.", s.run_ms), s.inspection.options.alpha_scale.to_string(), s.worker_memory.to_string())
    });
    html! {
        <section class={classes!("card", app.tour_class(Target::Run))} aria-labelledby="run-h">
            <h2 id="run-h">{ "3 · Run" }</h2>
            if !has_attention && app.models.current.is_some() {
                <p class="hint">{ "This model has no GAttANet layers: one plain pass." }</p>
            }
            <div class="field">
                <label class="field-label" for="passes">{ "Passes" }</label>
                <div class="stepper-input">
                    <button class="button small" aria-label="Fewer passes" disabled={!has_attention || passes <= 1}
                        onclick={link.callback(move |_| RunMsg::SetPasses(passes.saturating_sub(1).max(1)))}>{ "−" }</button>
                    <input id="passes" type="number" min="1" max={MAX_PASSES.to_string()} value={passes.to_string()} data-testid="passes"
                        disabled={!has_attention} onchange={on_passes} />
                    <button class="button small" aria-label="More passes" disabled={!has_attention || passes >= MAX_PASSES}
                        onclick={link.callback(move |_| RunMsg::SetPasses(passes + 1))}>{ "+" }</button>
                </div>
                <p class="hint">{ "Pass 0 is a plain feed-forward pass; each later pass is modulated by the agreement of the one before." }</p>
            </div>
            <div class="field">
                <label class="field-label" for="alpha">
                    { "Attention strength (α × " }<output for="alpha">{ format!("{:.2}", app.alpha) }</output>{ ")" }
                </label>
                <input id="alpha" type="range" min="0" max={MAX_ALPHA_SCALE.to_string()} step="0.05" value={app.alpha.to_string()}
                    data-testid="alpha" disabled={!has_attention} oninput={on_alpha} />
                <div class="range-ends" aria-hidden="true"><span>{ "0 = off" }</span><span class="at-one">{ "1 = as trained" }</span><span>{ MAX_ALPHA_SCALE.to_string() }</span></div>
            </div>
            if let Some((t, alpha, memory)) = timing { <p class="timing" data-alpha={alpha} data-worker-memory={memory}>{ t }</p> }
        </section>
    }
}

fn radio_group<T: Copy + PartialEq + 'static>(
    ctx: &Ctx,
    name: &'static str,
    legend: &str,
    options: &[(T, &str)],
    current: T,
    msg: fn(T) -> ViewMsg,
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

pub(super) fn display_card(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let v = &app.view;
    let on_opacity = link.callback(|e: InputEvent| {
        let input: HtmlInputElement = e.target_unchecked_into();
        ViewMsg::SetOpacity(input.value().parse().unwrap_or(0.6))
    });
    let cmap_select = |id: &'static str, label: &str, maps: &[ColorMap], current: ColorMap, msg: fn(ColorMap) -> ViewMsg| {
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
            { radio_group(ctx, "norm", "Colour scale shared by", &norms, v.norm, ViewMsg::SetNorm) }
            <p class="hint">{ match v.norm {
                Normalization::PerMap => "Each map uses its own range: best contrast, but colours are not comparable between maps.",
                Normalization::PerLayer => "One range per layer across all passes: shows how a layer's map changes from pass to pass.",
                Normalization::PerPass => "One range per pass across its conv layers: compare layers within a pass.",
                Normalization::Global => "One range for every conv map: everything comparable, weak maps look faint.",
            } }</p>
            { cmap_select("cmap", "Agreement colours (signed)", &[ColorMap::Diverging, ColorMap::PurpleOrange], v.cmap, ViewMsg::SetCmap) }
            { cmap_select("acmap", "Attention colours (weights ≥ 0)", &[ColorMap::Sequential, ColorMap::Cividis, ColorMap::Greys], v.acmap, ViewMsg::SetAcmap) }
            { radio_group(ctx, "cells", "Map cells", &[(false, "Blocks"), (true, "Smooth")], v.smooth, ViewMsg::SetSmooth) }
            { radio_group(ctx, "base", "Under the maps", &[(false, "Model's view"), (true, "Original")], v.photo, ViewMsg::SetPhoto) }
            <p class="hint">{ "Shown in grey, so that the maps' colours read as their legends say." }</p>
            { radio_group(ctx, "shown", "Passes shown", &[(true, "All passes"), (false, "Selected pass")], v.all_passes, ViewMsg::SetAllPasses) }
        </section>
    }
}

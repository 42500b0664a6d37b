//! Drawing the page from the App's state. Pure views: nothing here changes state except
//! through messages, and nothing recomputes the model. The page's frame (header, banners, Learn,
//! footer, camera) is here; the sidebar's cards in `controls`, the maps in `maps`, the cards
//! around them in `results`.
use std::rc::Rc;

use crate::app::page::{ImageMsg, ModelMsg, ViewMsg};
use web_sys::DragEvent;
use yew::prelude::*;
use yew::AttrValue;

use super::tour::{self, Target, TourMsg};
use super::{App, Msg};
use crate::app::backend::{EngineKind, Preference};
use crate::viz::{ColorMap, Fit, Interp, MapView};

mod controls;
mod explain;
mod maps;
mod results;

use controls::{display_card, image_card, model_card, run_card};
use results::{placeholder, results};

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
        if self.narrow {
            Fit::Narrow
        } else {
            Fit::Wide
        }
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
/// Where the pointer is over the element under it, as fractions of its width and height.
fn pointer_fraction(e: &MouseEvent) -> (f32, f32) {
    let el: web_sys::Element = yew::TargetCast::target_unchecked_into(e);
    let r = el.get_bounding_client_rect();
    let fx = ((f64::from(e.client_x()) - r.left()) / r.width().max(1.0)) as f32;
    let fy = ((f64::from(e.client_y()) - r.top()) / r.height().max(1.0)) as f32;
    (fx, fy)
}

fn svg(s: &str) -> Html {
    Html::from_html_unchecked(AttrValue::from(s.trim().to_string()))
}

pub fn page(app: &App, ctx: &Ctx) -> Html {
    let link = ctx.link();
    let ondragover = link.batch_callback(|e: DragEvent| {
        e.prevent_default();
        Some(Msg::from(ImageMsg::Dragging(true)))
    });
    let ondragleave = link.batch_callback(|e: DragEvent| e.related_target().is_none().then_some(Msg::from(ImageMsg::Dragging(false))));
    let ondrop = link.batch_callback(|e: DragEvent| {
        e.prevent_default();
        let file = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0));
        [ImageMsg::Dragging(false)].into_iter().chain(file.map(ImageMsg::OpenFile)).map(Msg::from).collect::<Vec<_>>()
    });
    html! {
        <div class={classes!("app", app.tour.step.is_some().then_some("touring"), app.view.present.then_some("presenting"))} {ondragover} {ondragleave} {ondrop}>
            { header(app, ctx) }
            { banners(app, ctx) }
            <main class="layout">
                <aside class="sidebar" aria-label="Image, model and settings">
                    { image_card(app, ctx) }
                    // Presentation mode keeps the images (a live demo changes them) and hides the settings.
                    if !app.view.present {
                        { model_card(app, ctx) }
                        { run_card(app, ctx) }
                        { display_card(app, ctx) }
                    }
                </aside>
                <div class="content">
                    { match &app.jobs.shown {
                        Some(shown) => results(app, ctx, shown),
                        None => placeholder(app),
                    } }
                    { learn_card(app) }
                </div>
            </main>
            if !app.view.present { { footer() } }
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
    let tour_open = app.tour.step.is_some();
    let present = app.view.present;
    let (label, reason) = match &app.models.engine {
        Some(e) => (e.backend.label(), e.reason.clone()),
        None => ("…", "choosing the engine".to_string()),
    };
    // The toggle forces the other engine (kept in the URL as ?backend=); WebGPU is offered only
    // where the worker found an adapter. Not while a model is being loaded: that load would be dropped.
    let toggle = match &app.models.engine {
        Some(e) if e.backend == EngineKind::WebGpu => Some(("Use CPU", Preference::Cpu)),
        Some(e) if e.webgpu => Some(("Try WebGPU", Preference::WebGpu)),
        _ => None,
    };
    html! {
        <header class="topbar">
            <div class="brand">
                <h1>{ "GAttANet Explorer" }</h1>
                <p class="tagline">{ "Watch a network's global attention at work: where each layer agrees with what the whole network is looking for, pass after pass." }</p>
            </div>
            <div class="badges">
                <button class="tour-btn" ref={app.tour.button.clone()} data-testid="tour-start" aria-haspopup="dialog"
                    aria-expanded={tour_open.to_string()} title="A short guided tour of the page, for a first look or a class"
                    onclick={ctx.link().callback(move |_| Msg::Tour(if tour_open { TourMsg::Close } else { TourMsg::Start }))}>
                    { "Tour" }
                </button>
                <button class="tour-btn present-btn" data-testid="present" aria-pressed={present.to_string()}
                    title={if present { "Leave presentation mode (Esc)" } else { "Presentation mode, for a projector: the settings are hidden and everything is larger. A copied link keeps it." }}
                    onclick={ctx.link().callback(move |_| ViewMsg::SetPresent(!present))}>
                    { if present { "Exit presentation" } else { "Present" } }
                </button>
                <span class="badge privacy" title="The model runs inside this browser tab. Nothing you open is uploaded.">
                    { lock_icon() }{ "Images never leave your device" }
                </span>
                <span class="badge engine" title={format!("Engine: {label} — {reason}")}>
                    { "Engine: " }<strong data-testid="backend">{ label }</strong>
                    <span class="reason" data-testid="backend-reason">{ format!(" · {reason}") }</span>
                    if let Some((text, to)) = toggle {
                        <button type="button" data-testid="backend-toggle" disabled={app.models.seq.is_some()}
                            title={format!("Run the model on the {} from now on", if to == Preference::Cpu { "CPU" } else { "GPU (WebGPU)" })}
                            class="engine-toggle"
                            onclick={ctx.link().callback(move |_| ModelMsg::SetBackend(to))}>{ text }</button>
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
    svg(
        r#"<svg class="icon-lock" viewBox="0 0 16 16" aria-hidden="true" width="14" height="14"><path fill="currentColor" d="M4 7V5a4 4 0 1 1 8 0v2h.5A1.5 1.5 0 0 1 14 8.5v5a1.5 1.5 0 0 1-1.5 1.5h-9A1.5 1.5 0 0 1 2 13.5v-5A1.5 1.5 0 0 1 3.5 7H4zm2 0h4V5a2 2 0 1 0-4 0v2z"/></svg>"#,
    )
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

fn learn_card(app: &App) -> Html {
    let has_cls = app.jobs.shown.as_ref().is_some_and(|s| s.inspection.passes[0].aggregation.is_some());
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
                    <button class="button primary" onclick={link.callback(|_| ImageMsg::Capture)}>{ "Take picture" }</button>
                    <button class="button" onclick={link.callback(|_| ImageMsg::StopCamera)}>{ "Cancel" }</button>
                </div>
            </div>
        </div>
    }
}

//! "Is attention an explanation?": the agreement map and the class attention beside Grad-CAM
//! and occlusion for the image shown, how alike they are, and how well each predicts what the
//! network relies on (deletion and insertion curves). Computed on request: it takes a few
//! hundred forward passes.
use std::rc::Rc;

use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;
use yew::TargetCast;

use super::{pointer_fraction, svg, Ctx};
use crate::app::page::{App, Explained, ExportMsg, RunMsg, Shown, ViewMsg};
use crate::app::render::{png_data_url, short};
use crate::explain::{rank_correlation, Method, Saliency};
use crate::viz::{deletion_insertion_svg, saliency_over, value_at, CurveSeries};

const SIDE: u32 = 160;

fn method_title(m: Method) -> &'static str {
    match m {
        Method::Agreement => "GAttANet agreement",
        Method::Attention => "Class attention",
        Method::GradCam => "Grad-CAM",
        Method::Occlusion => "Occlusion",
        Method::Random => "Random",
        Method::Centre => "Centre",
    }
}

/// The map over the model's view of the image (grey), and its scale, as data URLs.
fn map_image(map: &Saliency, shown: &Shown) -> (String, String) {
    let (over, scale) = saliency_over(&map.values, map.grid, &shown.view_rgb, SIDE, 12);
    (png_data_url(&over), png_data_url(&scale))
}

/// One compared map with the value under the pointer (its own hover state, as the agreement
/// maps have), in the units of `explain.json`.
#[derive(Properties, PartialEq)]
struct SaliencyCellProps {
    map: Saliency,
    /// The map over the image and its scale (data URLs).
    url: Rc<str>,
    scale: Option<Rc<str>>,
    title: String,
    alt: String,
    footer: String,
    /// `data-testid` and what identifies the map: `data-method` or `data-head`.
    testid: &'static str,
    method: Option<&'static str>,
    head: Option<usize>,
}

#[function_component]
fn SaliencyCell(p: &SaliencyCellProps) -> Html {
    let readout = use_state_eq(|| None::<String>);
    {
        let readout = readout.clone();
        use_effect_with(p.url.clone(), move |_| readout.set(None));
    }
    let onmousemove = {
        let (map, readout) = (p.map.clone(), readout.clone());
        Callback::from(move |e: MouseEvent| {
            let (fx, fy) = pointer_fraction(&e);
            let [h, w] = map.grid;
            let cell = |f: f32, n: usize| ((f.clamp(0.0, 1.0) * n as f32) as usize).min(n.saturating_sub(1));
            let v = value_at(&map.values, h, w, fx, fy);
            readout.set(Some(format!("row {}, col {}: {}", cell(fy, h), cell(fx, w), short(v))));
        })
    };
    let onmouseleave = {
        let readout = readout.clone();
        Callback::from(move |_: MouseEvent| readout.set(None))
    };
    html! {
        <figure class="explain-map" data-testid={p.testid} data-method={p.method} data-head={p.head.map(|h| h.to_string())}>
            <figcaption>{ p.title.clone() }</figcaption>
            <img class="pixelated" src={p.url.to_string()} alt={p.alt.clone()} {onmousemove} {onmouseleave} />
            if let Some(scale) = &p.scale { <img class="scale" src={scale.to_string()} alt="" aria-hidden="true" /> }
            <p class="auc">{ p.footer.clone() }</p>
            <p class="readout">{ (*readout).clone().unwrap_or_else(|| "\u{a0}".into()) }</p>
        </figure>
    }
}

/// The class and the conv layer to compare for, and the per-head switch.
fn choices(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let link = ctx.link();
    let insp = &shown.inspection;
    let predicted = insp.passes.last().and_then(|p| p.top.first()).map(|t| t.class.clone()).unwrap_or_default();
    let on_class = link.callback(|e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        RunMsg::ExplainClass(sel.value().parse().ok())
    });
    let on_layer = link.callback(|e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        let v = sel.value();
        RunMsg::ExplainLayer((!v.is_empty()).then_some(v))
    });
    let on_heads = link.callback(|e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        ViewMsg::SetCompareHeads(input.checked())
    });
    let layers: Vec<String> = app
        .models
        .current
        .as_ref()
        .map(|m| m.config.attention_sites().into_iter().filter(|s| s.spatial.is_some()).map(|s| s.name).collect())
        .unwrap_or_default();
    let heads = insp.passes.last().and_then(|p| p.aggregation.as_ref()).map_or(0, |a| a.heads);
    let c = &app.compare;
    html! {
        <div class="explain-choices">
            <label>{ "Class " }
                <select data-testid="explain-class" onchange={on_class}>
                    <option value="" selected={c.class.is_none()}>{ format!("the prediction ({predicted})") }</option>
                    { for insp.classes.iter().enumerate().map(|(i, name)| html! {
                        <option value={i.to_string()} selected={c.class == Some(i)}>{ name.clone() }</option>
                    }) }
                </select>
            </label>
            <label>{ "Layer " }
                <select data-testid="explain-layer" onchange={on_layer}>
                    <option value="" selected={c.layer.is_none()}>{ "the last attended conv layer" }</option>
                    { for layers.iter().map(|l| html! {
                        <option value={l.clone()} selected={c.layer.as_deref() == Some(l.as_str())}>{ l.clone() }</option>
                    }) }
                </select>
            </label>
            if heads > 1 {
                <label><input type="checkbox" data-testid="explain-heads" checked={c.heads} onchange={on_heads} />{ " each attention head" }</label>
            }
        </div>
    }
}

/// Each head's class attention beside the mean, with how alike it is to Grad-CAM and occlusion.
fn head_maps(app: &App, e: &Explained, shown: &Shown) -> Html {
    let Some(agg) = e.inspection.passes.last().and_then(|p| p.aggregation.as_ref()) else { return html! {} };
    let find = |m: Method| e.explanation.maps.iter().find(|s| s.method == m);
    let (gradcam, occlusion) = (find(Method::GradCam), find(Method::Occlusion));
    let figures = agg.weights.iter().enumerate().map(|(h, w)| {
        let map = Saliency { method: Method::Attention, grid: agg.grid, values: w.clone() };
        let url = app.cached(format!("xh-{}-{h}", e.seq), || map_image(&map, shown).0);
        let rho = |other: Option<&Saliency>| other.map_or("–".to_string(), |o| format!("{:+.2}", rank_correlation(&map, o)));
        let footer = format!("ρ Grad-CAM {} · occlusion {}", rho(gradcam), rho(occlusion));
        html! {
            <SaliencyCell {map} {url} scale={None::<Rc<str>>} title={format!("Head {}", h + 1)} {footer}
                alt={format!("Class attention of head {} for {}", h + 1, e.explanation.class_name)}
                testid="explain-head-map" method={None::<&'static str>} head={Some(h)} />
        }
    });
    html! { <div class="explain-grid" aria-label="Class attention per head">{ for figures }</div> }
}

pub(super) fn explain_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let busy = app.jobs.explaining.is_some();
    let current = app.jobs.explained.as_ref().filter(|e| Rc::ptr_eq(&e.inspection, &shown.inspection));
    let on_run = ctx.link().callback(|_| RunMsg::Explain);
    let body = match current {
        None => html! {},
        Some(e) => {
            let x = &e.explanation;
            let maps = x.maps.iter().zip(&x.curves).map(|(m, c)| {
                let (url, scale) = app
                    .cached(format!("x-{}-{}", e.seq, m.method.name()), || {
                        let (a, b) = map_image(m, shown);
                        format!("{a}\n{b}")
                    })
                    .split_once('\n')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .unwrap_or_default();
                let (d, i) = c.auc();
                html! {
                    <SaliencyCell map={m.clone()} url={Rc::<str>::from(url)} scale={Some(Rc::<str>::from(scale))}
                        title={method_title(m.method)} footer={format!("deletion {} · insertion {}", short(d), short(i))}
                        alt={format!("{} map for {}, {}×{}", method_title(m.method), x.class_name, m.grid[0], m.grid[1])}
                        testid="explain-map" method={Some(m.method.name())} head={None::<usize>} />
                }
            });
            let names: Vec<&str> = x.maps.iter().map(|m| method_title(m.method)).collect();
            let series: Vec<CurveSeries> = x
                .maps
                .iter()
                .zip(&x.curves)
                .map(|(m, c)| CurveSeries {
                    name: method_title(m.method).into(),
                    deletion: c.deletion.clone(),
                    insertion: c.insertion.clone(),
                })
                .collect();
            let chart = app.cached(format!("xc-{}-{:?}", e.seq, app.fit()), || {
                deletion_insertion_svg(
                    &format!("{} ({:.0}%): removing or inserting what each map ranks first", x.class_name, 100.0 * x.probability),
                    &series,
                    app.fit(),
                )
            });
            html! {
                <>
                    <div class="explain-grid">{ for maps }</div>
                    if app.compare.heads { { head_maps(app, e, shown) } }
                    <table class="explain-corr" data-testid="explain-correlation">
                        <caption>{ "How alike the maps are: Spearman rank correlation (1 = same order, 0 = unrelated, −1 = reversed)" }</caption>
                        <tr><th></th>{ for names.iter().map(|n| html! { <th scope="col">{ *n }</th> }) }</tr>
                        { for x.correlation.iter().zip(&names).map(|(row, n)| html! {
                            <tr><th scope="row">{ *n }</th>{ for row.iter().map(|r| html! { <td>{ format!("{r:+.2}") }</td> }) }</tr>
                        }) }
                    </table>
                    <div class="chart">{ svg(&chart) }</div>
                    <button class="button" data-testid="explain-json" onclick={ctx.link().callback(|_| ExportMsg::ExplanationJson)}
                        title="Download the maps, curves and correlations as explain.json (the format of gattanet explain)">{ "Save the comparison (JSON)" }</button>
                    <p class="hint" data-testid="explain-note">{ format!(
                        "For “{}”, maps at {}. Agreement and class attention come from the inspection above ({}); Grad-CAM (gradients through every pass), occlusion ({}×{} grey patches) and the curves ran on the CPU engine in the page's worker, in {:.1} s. A faithful map makes the probability fall fast when its top pixels are removed (low deletion area) and rise fast when they are inserted into a grey image (high insertion area).",
                        x.class_name, x.layer, if shown.backend == crate::app::backend::EngineKind::WebGpu { "WebGPU" } else { "CPU" },
                        x.maps.iter().find(|m| m.method == Method::Occlusion).map_or(0, |m| m.grid[0]),
                        x.maps.iter().find(|m| m.method == Method::Occlusion).map_or(0, |m| m.grid[1]),
                        e.ms / 1000.0
                    ) }</p>
                </>
            }
        }
    };
    html! {
        <section class="card explain" aria-labelledby="explain-h">
            <h2 id="explain-h">{ "Is attention an explanation? Compare with Grad-CAM and occlusion" }</h2>
            <p class="explain">
                { "Attention maps show where the network looks, not why it decides. Grad-CAM weighs a layer by the gradient of the class score; occlusion hides one patch at a time and measures the drop in the class probability. Here all four for the prediction (or the class you choose), with a measure of how much each predicts what the network relies on." }
            </p>
            { choices(app, ctx, shown) }
            <button class="button" data-testid="explain-run" disabled={busy} onclick={on_run}>
                { if busy { "Computing…" } else if current.is_some() { "Compute again" } else { "Compare the maps" } }
            </button>
            { body }
        </section>
    }
}

//! The maps: agreement heatmaps per layer and pass, dense-layer bar charts, class attention per
//! head, with their legends, the image beneath and the value under the pointer.
use std::rc::Rc;

use web_sys::MouseEvent;
use yew::prelude::*;

use super::results::shown_passes;
use super::{pointer_fraction, svg, Ctx};
use crate::app::page::tour::Target;
use crate::app::page::{App, Shown, ViewMsg};
use crate::app::render::{gradient_css, percent, png_data_url, short, signed};
use crate::inspect::{Inspection, LayerKind};
use crate::viz::{
    agreement_image, agreement_range, attention_image, attention_range, cosine, dense_agreement_chart_svg, global_query_range, value_at,
    ColorMap, Range,
};

fn legend(cmap: ColorMap, range: Range, signed_scale: bool) -> Html {
    let (lo, hi) = if signed_scale { (signed(range.lo), signed(range.hi)) } else { (short(range.lo), short(range.hi)) };
    let label =
        if signed_scale { format!("Colour scale from {lo} to {hi}; white is 0") } else { format!("Colour scale from {lo} to {hi}") };
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

/// One map of the grid. A child component with its own hover state, so moving the pointer
/// over a map redraws that map's readout and nothing else; its props compare the inspection by
/// pointer, so an App redraw that changes nothing here leaves it alone.
#[derive(Properties, Clone)]
struct MapCellProps {
    insp: Rc<Inspection>,
    kind: MapKind,
    pass: usize,
    /// The heat map (PNG data URL) and the image under it.
    url: Rc<str>,
    base: Html,
    range: Range,
    cmap: ColorMap,
    opacity: f32,
    smooth: bool,
    selected: bool,
    /// Sends "show this pass"; not compared (a new closure each App redraw, the same effect).
    on_select: Callback<usize>,
}

impl PartialEq for MapCellProps {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.insp, &o.insp)
            && (self.kind, self.pass, self.range, self.cmap, self.opacity, self.smooth, self.selected)
                == (o.kind, o.pass, o.range, o.cmap, o.opacity, o.smooth, o.selected)
            && self.url == o.url
            && self.base == o.base
    }
}

impl MapCellProps {
    /// (values, gains in the pass, height, width, name) of the map.
    fn data(&self) -> (&[f32], Option<&[f32]>, usize, usize, String) {
        let pass = &self.insp.passes[self.pass];
        match self.kind {
            MapKind::Agreement(l) => {
                let layer = &pass.layers[l];
                (&layer.agreement, Some(&layer.gain), layer.shape[0], layer.shape[1], layer.name.clone())
            }
            MapKind::Attention(head) => {
                let agg = pass.aggregation.as_ref().expect("attention cells only with aggregation");
                let [h, w] = agg.grid;
                (agg.weights.get(head).map_or(&[][..], |v| v.as_slice()), None, h, w, format!("head {}", head + 1))
            }
        }
    }

    /// The readout for the pointer at (fx, fy) in [0, 1]² of the map.
    fn readout(&self, fx: f32, fy: f32) -> String {
        let (values, gains, h, w, _) = self.data();
        let value = value_at(values, h, w, fx, fy);
        let row = ((fy.clamp(0.0, 0.9999)) * h as f32) as usize;
        let col = ((fx.clamp(0.0, 0.9999)) * w as f32) as usize;
        match self.kind {
            MapKind::Agreement(_) => {
                let gain = gains.and_then(|g| g.get(row * w + col)).copied().filter(|_| self.pass > 0);
                let gain = gain.map(|g| format!(" · gain in this pass ×{}", short(g))).unwrap_or_default();
                format!("row {row}, col {col}: g = {}{gain}", signed(value))
            }
            MapKind::Attention(_) => format!("row {row}, col {col}: weight {} ({})", short(value), percent(value)),
        }
    }
}

#[function_component]
fn MapCell(props: &MapCellProps) -> Html {
    let readout = use_state_eq(|| None::<String>);
    {
        // a new result clears the readout of the old one
        let readout = readout.clone();
        use_effect_with(Rc::as_ptr(&props.insp) as usize, move |_| readout.set(None));
    }
    let (_, _, h, w, name) = props.data();
    let (pass, range) = (props.pass, props.range);
    let onmousemove = {
        let (props, readout) = (props.clone(), readout.clone());
        Callback::from(move |e: MouseEvent| {
            let (fx, fy) = pointer_fraction(&e);
            readout.set(Some(props.readout(fx, fy)));
        })
    };
    let onmouseleave = {
        let readout = readout.clone();
        Callback::from(move |_: MouseEvent| readout.set(None))
    };
    let onclick = props.on_select.reform(move |_: MouseEvent| pass);
    let alt = match props.kind {
        MapKind::Agreement(_) => {
            format!("Agreement map of {name} in pass {pass}, {h}×{w}, from {} (blue) to {} (red)", signed(range.lo), signed(range.hi))
        }
        MapKind::Attention(_) => {
            format!("Class-token attention of {name} in pass {pass} over a {h}×{w} patch grid, up to {}", short(range.hi))
        }
    };
    let stack = html! {
        <div class="map-stack" {onmousemove} {onmouseleave} {onclick}>
            { props.base.clone() }
            <img class={classes!("heat", (!props.smooth).then_some("pixelated"))} src={props.url.to_string()} {alt}
                style={format!("opacity:{}", props.opacity)} />
        </div>
    };
    let cls = classes!("map-cell", props.selected.then_some("selected"));
    let readout_html = html! { <p class="readout">{ (*readout).clone().unwrap_or_else(|| "\u{a0}".into()) }</p> };
    match props.kind {
        MapKind::Agreement(_) => html! {
            <figure class={cls} data-testid="agreement-map" data-layer={name} data-pass={pass.to_string()} data-kind="conv">
                { stack }
                { legend(props.cmap, range, true) }
                { readout_html }
            </figure>
        },
        MapKind::Attention(head) => {
            let own = props.insp.passes[pass].aggregation.as_ref().and_then(|a| a.self_weight.get(head)).copied().unwrap_or(0.0);
            html! {
                <figure class={cls} data-testid="attention-map" data-head={head.to_string()} data-pass={pass.to_string()}>
                    { stack }
                    { legend(props.cmap, range, false) }
                    <p class="self-weight">{ format!("to itself: {}", percent(own)) }</p>
                    { readout_html }
                </figure>
            }
        }
    }
}

fn map_cell(app: &App, ctx: &Ctx, shown: &Shown, kind: MapKind, pass: usize) -> Html {
    let insp: Rc<Inspection> = shown.inspection.clone();
    let v = &app.view;
    let (url, range, cmap) = match kind {
        MapKind::Agreement(l) => {
            let layer = &insp.passes[pass].layers[l];
            let mv = app.map_view(v.cmap, layer.shape[0], layer.shape[1]);
            let key = format!("a-{pass}-{l}-{:?}-{:?}-{}", v.norm, v.cmap, v.smooth);
            let url = app.cached(key, || agreement_image(&insp, pass, l, &mv).map(|i| png_data_url(&i)).unwrap_or_default());
            (url, agreement_range(&insp, pass, l, v.norm), v.cmap)
        }
        MapKind::Attention(head) => {
            let [h, w] = insp.passes[pass].aggregation.as_ref().expect("attention cells only with aggregation").grid;
            let mv = app.map_view(v.acmap, h, w);
            let key = format!("c-{pass}-{head}-{:?}-{:?}-{}", v.norm, v.acmap, v.smooth);
            let url = app.cached(key, || attention_image(&insp, pass, head, &mv).map(|i| png_data_url(&i)).unwrap_or_default());
            (url, attention_range(&insp, pass, head, v.norm), v.acmap)
        }
    };
    html! {
        <MapCell {insp} {kind} {pass} {url} base={base_layer(app, shown)} {range} {cmap} opacity={v.opacity} smooth={v.smooth}
            selected={pass == v.pass} on_select={ctx.link().callback(ViewMsg::SetPass)} />
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
                aria-pressed={selected.to_string()}
                onclick={ctx.link().callback(move |_| ViewMsg::SetPass(p))}>
                <strong>{ format!("Pass {p}") }</strong>{ " " }
                <span>{ if p == 0 { "plain" } else { "modulated" } }</span>
            </button>
        }
    };
    if app.grid_by_layer(n, passes.len()) {
        // A block per layer (its name, then its passes side by side), flowing two or three to a
        // row on wide screens and one per row on phones; the pass buttons head the flow.
        let np = passes.len();
        let block = format!("grid-template-columns: repeat({np}, minmax(0, 1fr)); flex-basis: {}rem; max-width: {}rem", np * 11, np * 17);
        let caption =
            |p: usize| html! { <div class={classes!("col-cap", (p == app.view.pass).then_some("selected"))}>{ format!("pass {p}") }</div> };
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

pub(super) fn agreement_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let passes = shown_passes(app, insp.passes.len());
    let conv = insp.layers_of_kind(LayerKind::Conv);
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
                        if let Some(a) = alpha_of(&layer.name) { { format!(" · α {}", signed(a)) } }
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
            { global_query_strip(app, &shown.inspection, &passes) }
            { pass_grid(app, ctx, &passes, heads, min, max, |p, c| map_cell(app, ctx, shown, MapKind::Agreement(conv[c]), p)) }
            { caveat_line() }
        </section>
    }
}

/// The global query q̄ of each pass shown, one coloured cell per entry on one shared scale: the
/// single vector every key above is compared with, and how it turns from pass to pass.
fn global_query_strip(app: &App, insp: &Rc<Inspection>, passes: &[usize]) -> Html {
    let d = insp.passes.first().map_or(0, |p| p.global_query.len());
    if d == 0 {
        return html! {};
    }
    let (range, cmap) = (global_query_range(insp), app.view.cmap);
    html! {
        <figure class="gq">
            <figcaption>
                <b>{ "The global query q̄" }</b>
                { format!(" ({d} numbers, one for the whole network): the average of every attended layer's queries, computed again in each pass. All maps of a pass are agreements with its q̄.") }
            </figcaption>
            { for passes.iter().map(|&p| html! { <GlobalQueryRow insp={insp.clone()} pass={p} selected={p == app.view.pass} {range} {cmap} /> }) }
            { legend(cmap, range, true) }
        </figure>
    }
}

#[derive(Properties, Clone)]
struct GlobalQueryRowProps {
    insp: Rc<Inspection>,
    pass: usize,
    selected: bool,
    range: Range,
    cmap: ColorMap,
}

impl PartialEq for GlobalQueryRowProps {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.insp, &o.insp) && (self.pass, self.selected, self.range, self.cmap) == (o.pass, o.selected, o.range, o.cmap)
    }
}

/// One pass's q̄ as a strip of cells, with the value under the pointer (its own hover state).
#[function_component]
fn GlobalQueryRow(props: &GlobalQueryRowProps) -> Html {
    let readout = use_state_eq(|| None::<String>);
    let (insp, p) = (&props.insp, props.pass);
    let q = &insp.passes[p].global_query;
    let turn = (p > 0).then(|| cosine(q, &insp.passes[p - 1].global_query)).flatten();
    let values: Vec<String> = q.iter().map(|&v| signed(v)).collect();
    html! {
        <div class={classes!("gq-row", props.selected.then_some("selected"))} data-testid="global-query" data-pass={p.to_string()}>
            <span class="gq-pass">{ format!("pass {p}") }</span>
            <div class="gq-cells" role="img" aria-label={format!("Global query of pass {p}: {}", values.join(", "))}>
                { for q.iter().enumerate().map(|(i, &v)| {
                    let [r, g, b] = props.cmap.rgb(props.range.unit(v));
                    let text = format!("pass {p}, q̄[{i}] = {}", signed(v));
                    let enter = readout.clone();
                    let onmouseenter = Callback::from(move |_: MouseEvent| enter.set(Some(text.clone())));
                    let leave = readout.clone();
                    let onmouseleave = Callback::from(move |_: MouseEvent| leave.set(None));
                    html! { <span class="gq-cell" style={format!("background:rgb({r},{g},{b})")} data-value={v.to_string()} {onmouseenter} {onmouseleave}></span> }
                }) }
            </div>
            <span class="gq-note">{
                match ((*readout).clone(), turn) {
                    (Some(t), _) => t,
                    (None, Some(c)) => format!("cosine with pass {}: {:.3}", p - 1, c),
                    (None, None) => "\u{a0}".into(),
                }
            }</span>
        </div>
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
        [init @ .., last] => {
            format!("Here {} and {last} have α\u{a0}<\u{a0}0: in those layers the next pass boosts {effect}. ", init.join(", "))
        }
    };
    html! { <span class="alpha-note" data-layers={names.join(",")}>{ text }</span> }
}

pub(super) fn dense_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let passes = shown_passes(app, insp.passes.len());
    let dense = insp.layers_of_kind(LayerKind::Dense);
    if dense.is_empty() {
        return html! {};
    }
    let truth = shown.true_class();
    // Not the map grid: these charts are drawn 1000 px wide, and squeezed into grid columns their
    // axis labels shrank to a few pixels (1024-px projector screenshot). Each chart gets at least
    // 32rem (labels about 11 px); the passes of a layer sit side by side where that fits.
    html! {
        <section class="card" aria-labelledby="dense-h">
            <h2 id="dense-h">{ "Dense layers: agreement per unit" }</h2>
            <p class="explain">
                { "Dense layers have no positions, so each unit gets one agreement value: a bar above 0 agrees with the global query, below 0 disagrees. In the class layer (logits) each bar is a class; the highlighted bar is the image's true class for the samples, as in Fig. 3 of the GAttANet paper, and the predicted class of that pass for your own images. The next pass multiplies each unit by 1 + α·g. " }
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
                                let chart = app.cached(format!("d-{p}-{l}-{:?}-{:?}", app.fit(), app.view.norm), || {
                                    let names = is_logits.then_some(insp.classes.as_slice());
                                    let hl = if is_logits { truth.or(pass.top.first().map(|t| t.index)) } else { None };
                                    // The y axis follows the colour-scale setting, as the maps do.
                                    let span = agreement_range(insp, p, l, app.view.norm).hi;
                                    dense_agreement_chart_svg(layer, names, hl, Some(span), app.fit())
                                });
                                let selected = p == app.view.pass;
                                html! {
                                    <div class="dense-item">
                                        <button class={classes!("pass-head", "inline", selected.then_some("selected"))}
                                            aria-pressed={selected.to_string()}
                                            onclick={ctx.link().callback(move |_| ViewMsg::SetPass(p))}>
                                            <strong>{ format!("Pass {p}") }</strong>{ " " }
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

pub(super) fn attention_card(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let Some(agg) = insp.passes[0].aggregation.as_ref() else { return html! {} };
    let passes = shown_passes(app, insp.passes.len());
    let heads: Vec<Html> = (0..agg.heads)
        .map(|h| html! { <><strong>{ format!("head {}", h + 1) }</strong><span>{ format!("{}×{} patches", agg.grid[0], agg.grid[1]) }</span></> })
        .collect();
    let (min, max) = ("6.5rem", "17rem");
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

//! The result cards around the maps: the prediction and its passes, attention off vs on, α per layer.

use yew::prelude::*;

use super::explain::explain_card;
use super::maps::{agreement_card, attention_card, dense_card};
use super::{svg, Ctx};
use crate::app::page::tour::Target;
use crate::app::page::{App, ExportMsg, Shown, ViewMsg};
use crate::app::render::{percent, short};
use crate::viz::{alpha_chart_svg, top1_across_passes_svg, topk_chart_svg};

pub(super) fn placeholder(app: &App) -> Html {
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

pub(super) fn results(app: &App, ctx: &Ctx, shown: &Shown) -> Html {
    html! {
        <>
            { prediction_card(app, ctx, shown) }
            { agreement_card(app, ctx, shown) }
            { dense_card(app, ctx, shown) }
            { attention_card(app, ctx, shown) }
            { compare_card(app, shown) }
            { explain_card(app, ctx, shown) }
            { alpha_card(app, shown) }
        </>
    }
}

/// For a sample: its true class, and which passes got it (a pass can fix, or spoil, the plain
/// pass's answer).
fn truth_line(shown: &Shown) -> Html {
    let insp = &shown.inspection;
    let Some(truth) = shown.true_class() else { return html! {} };
    let verdicts = insp.passes.iter().enumerate().map(|(p, pass)| match pass.top.first() {
        Some(t) if t.index == truth => html! { <span class="verdict right">{ format!("pass {p} ✓") }</span> },
        Some(t) => html! { <span class="verdict wrong">{ format!("pass {p} ✗ {}", t.class) }</span> },
        None => html! {},
    });
    html! {
        <p class="truth" data-testid="truth" data-class={insp.classes[truth].clone()}>
            { "True class: " }<strong>{ insp.classes[truth].clone() }</strong>
            { for verdicts }
        </p>
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
        "Pass 0 is a plain feed-forward pass: nothing is modulated yet. Its agreement maps decide how the next pass is modulated."
            .to_string()
    } else {
        format!(
            "Pass {p}: every attended layer's activations were multiplied by 1 + α·g, where g is the agreement computed in pass {}.",
            p - 1
        )
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
                    { truth_line(shown) }
                </div>
                <figure class="chart" role="img" aria-label={format!("Top 5 classes in pass {p}")}>{ svg(&topk) }</figure>
            </div>
            <div class="pred-foot">
                { pass_stepper(ctx, n, p, app.playing.is_some()) }
                <div class="toolbar" role="group" aria-label="Export and share">
                    <button class="button" onclick={link.callback(|_| ExportMsg::Png)} title="Download the maps on screen as one PNG">{ "Save PNG" }</button>
                    <button class="button" onclick={link.callback(|_| ExportMsg::Json)} title="Download every map and number as inspection.json">{ "Save JSON" }</button>
                    <button class="button" onclick={link.callback(|_| ExportMsg::CopyLink)} title="Copy a link that reopens this view">{ "Copy link" }</button>
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
            title={if playing { "Stop stepping through the passes" } else { "Step through the passes automatically" }}
            disabled={n < 2} onclick={link.callback(move |_| ViewMsg::Play(!playing))}>
            <span aria-hidden="true">{ if playing { "■ " } else { "▷ " } }</span>{ if playing { "Stop" } else { "Play" } }
        </button>
    };
    html! {
        <div class="pass-stepper" role="group" aria-label="Step through the passes (← and → keys)">
            <button class="button" aria-label="Previous pass" disabled={p == 0} onclick={link.callback(|_| ViewMsg::StepPass(-1))}>{ "◀" }</button>
            <div class="pass-dots">
                { for (0..n).map(|i| html! {
                    <button class={classes!("pass-dot", (i == p).then_some("active"))} aria-pressed={(i == p).to_string()}
                        onclick={link.callback(move |_| ViewMsg::SetPass(i))}>
                        { pass_name(i) }
                    </button>
                }) }
            </div>
            <button class="button" aria-label="Next pass" disabled={p + 1 >= n} onclick={link.callback(|_| ViewMsg::StepPass(1))}>{ "▶" }</button>
            { play }
            <span class="kbd-hint" aria-hidden="true">{ "← → keys" }</span>
        </div>
    }
}

pub(super) fn shown_passes(app: &App, n: usize) -> Vec<usize> {
    if app.view.all_passes {
        (0..n).collect()
    } else {
        vec![app.view.pass.min(n.saturating_sub(1))]
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

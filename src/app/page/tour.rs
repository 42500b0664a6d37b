//! The guided tour (for teaching): a few short steps, each pointing at one part of the page.
//! The dialog is not modal on purpose: students can try the slider or the pass buttons while
//! a step talks about them. The highlighted card gets the `tour-target` class from the views
//! (`App::tour_class`); `App::place_tour` scrolls it into view and puts the dialog beside it.
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::{App, Msg};

/// The part of the page a step points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Image,
    Prediction,
    Agreement,
    Run,
    Display,
    Attention,
    Caveat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TourMsg {
    Start,
    /// The Next button or Enter: the last step's "Finish" closes the tour.
    Next,
    /// The → key: like Next, but stays on the last step (no accidental close).
    Forward,
    Back,
    Close,
}

pub struct Step {
    pub target: Target,
    pub title: &'static str,
    pub text: String,
}

/// The steps for what is on screen now (the class-attention step only for a model that has a
/// class token).
pub fn steps(app: &App) -> Vec<Step> {
    let size = app
        .jobs
        .shown
        .as_ref()
        .map(|s| s.inspection.input_size)
        .or_else(|| app.models.current.as_ref().map(|m| m.config.input.size))
        .map_or_else(|| "a few".to_string(), |[h, w]| format!("{w}×{h}"));
    let has_class_token = app.jobs.shown.as_ref().is_some_and(|s| s.inspection.passes.first().is_some_and(|p| p.aggregation.is_some()));
    let mut steps = vec![
        Step {
            target: Target::Image,
            title: "The image, and what the model sees",
            text: format!(
                "Pick an example or open your own picture; it never leaves this device. The model only sees the centre \
                 square (outlined when the picture is not square), shrunk to {size} pixels: the small image on the right."
            ),
        },
        Step {
            target: Target::Prediction,
            title: "The prediction, pass by pass",
            text: "Pass 0 is the ordinary network, with attention off. Each later pass runs the network again on the \
                   same image, modulated by the attention of the pass before. The bars show the top classes of the \
                   selected pass."
                .into(),
        },
        Step {
            target: Target::Agreement,
            title: "Agreement maps",
            text: "Every position of a layer makes a key (what is here) and a query (what to look for). All queries \
                   are averaged into one global query (the strip of coloured cells). Agreement g = key · global query: \
                   red where a position matches it, blue where it does not, white near 0. Hover or tap a map to read g."
                .into(),
        },
        Step {
            target: Target::Run,
            title: "Passes and attention strength",
            text: "In the next pass every activation is multiplied by 1 + α·g: agreeing positions are boosted, the \
                   others damped. Step through the passes with the buttons under the prediction (or ← →). The slider \
                   scales every learned α; at 0 attention is off."
                .into(),
        },
        Step {
            target: Target::Display,
            title: "Compare maps fairly",
            text: "By default each map gets its own colour range: good contrast, but colours cannot be compared \
                   between maps. Choose Per layer, Per pass or Global to share one range; each map's legend shows it."
                .into(),
        },
    ];
    if has_class_token {
        steps.push(Step {
            target: Target::Attention,
            title: "Class attention",
            text: "This model ends with a learned class token instead of average pooling. The token attends over the \
                   patches of the last feature map and what it gathers decides the class. Each head spreads 100% over \
                   the patches and itself; bright patches feed it most."
                .into(),
        });
    }
    steps.push(Step {
        target: Target::Caveat,
        title: "Attention is not an explanation",
        text: "The maps show what the attention mechanism computed, not why the network decided. A region can agree \
               strongly and hardly matter for the prediction. Use them to ask questions, and test the answers (try \
               α = 0)."
            .into(),
    });
    steps
}

impl App {
    /// `tour-target` for the card the current step points at.
    pub(super) fn tour_class(&self, target: Target) -> Option<&'static str> {
        let i = self.tour.step?;
        (steps(self).get(i)?.target == target).then_some("tour-target")
    }

    /// Handles a tour message; returns whether to redraw.
    pub(super) fn tour_update(&mut self, msg: TourMsg) -> bool {
        let n = steps(self).len();
        let next = match (msg, self.tour.step) {
            (TourMsg::Start, _) => Some(0),
            (_, None) => return false,
            (TourMsg::Close, Some(_)) => None,
            (TourMsg::Next, Some(i)) if i + 1 >= n => None,
            (TourMsg::Next | TourMsg::Forward, Some(i)) => Some((i + 1).min(n.saturating_sub(1))),
            (TourMsg::Back, Some(i)) => Some(i.saturating_sub(1)),
        };
        match next {
            Some(_) if msg == TourMsg::Start => {
                self.tour.focus_in = true;
                self.tour.placed = None;
            }
            None => {
                self.tour.return_focus = true;
                self.tour.placed = None;
            }
            Some(_) => {}
        }
        self.tour.step = next;
        self.tour.open.set(next.is_some());
        true
    }

    /// After a redraw: on a new step, scroll its card into view and put the dialog where it
    /// covers the card least; focus the dialog when it opens and the Tour button when it closes.
    pub(super) fn place_tour(&mut self) {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
        if self.tour.return_focus {
            self.tour.return_focus = false;
            if let Some(b) = self.tour.button.cast::<web_sys::HtmlElement>() {
                let _ = b.focus();
            }
        }
        let Some(step) = self.tour.step else { return };
        if self.tour.placed == Some(step) {
            return;
        }
        let Some(dialog) = self.tour.dialog.cast::<web_sys::HtmlElement>() else { return };
        self.tour.placed = Some(step);
        if std::mem::take(&mut self.tour.focus_in) {
            if let Some(next) = dialog.query_selector(".tour-next").ok().flatten().and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                let _ = next.focus();
            }
        }
        let Some(window) = web_sys::window() else { return };
        let num = |v: Result<wasm_bindgen::JsValue, _>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let (vw, vh) = (num(window.inner_width()), num(window.inner_height()));
        let target = document.query_selector(".tour-target").ok().flatten();
        let phone = vw < 640.0;
        if let Some(t) = &target {
            // Phones: the dialog is a sheet at the bottom (CSS), so the card goes to the top; a
            // card too tall for the room above the sheet goes there by its maps, not its heading.
            let margin = if phone { 8.0 } else { 16.0 };
            let room = vh - dialog.get_bounding_client_rect().height() - 2.0 * margin;
            let maps = t.query_selector(".map-grid-scroll").ok().flatten();
            let anchor = match maps {
                Some(m) if phone && t.get_bounding_client_rect().height() > room => m,
                _ => t.clone(),
            };
            window.scroll_by_with_x_and_y(0.0, anchor.get_bounding_client_rect().top() - margin);
        }
        // Fixed coordinates (style.css defaults the dialog to the bottom right).
        let at = |top: f64, left: f64| format!("top:{top:.0}px;left:{left:.0}px;right:auto;bottom:auto");
        let style = match (&target, phone) {
            (Some(t), false) => {
                let r = t.get_bounding_client_rect();
                let d = dialog.get_bounding_client_rect();
                let (dw, dh, gap) = (d.width(), d.height(), 16.0);
                let clamp_x = |x: f64| x.clamp(8.0, (vw - dw - 8.0).max(8.0));
                let clamp_y = |y: f64| y.clamp(8.0, (vh - dh - 8.0).max(8.0));
                if r.bottom() + gap + dh <= vh {
                    at(r.bottom() + gap, clamp_x(r.left()))
                } else if r.right() + gap + dw <= vw {
                    at(clamp_y(r.top()), r.right() + gap)
                } else if r.left() - gap - dw >= 0.0 {
                    at(clamp_y(r.top()), r.left() - gap - dw)
                } else {
                    // A card taller and wider than the room around it: the corner, over its lower part.
                    String::new()
                }
            }
            _ => String::new(),
        };
        let _ = dialog.set_attribute("style", &style);
    }
}

pub fn view(app: &App, ctx: &Context<App>) -> Html {
    let Some(i) = app.tour.step else { return html! {} };
    let steps = steps(app);
    let i = i.min(steps.len().saturating_sub(1));
    let Some(step) = steps.get(i) else { return html! {} };
    let link = ctx.link();
    let last = i + 1 == steps.len();
    html! {
        <div class="tour" role="dialog" aria-modal="false" aria-labelledby="tour-title" aria-describedby="tour-text"
            data-testid="tour" data-step={i.to_string()} ref={app.tour.dialog.clone()}>
            <div class="tour-live" aria-live="polite" aria-atomic="true">
                <p class="tour-count">{ format!("Tour · step {} of {}", i + 1, steps.len()) }</p>
                <h2 id="tour-title">{ step.title }</h2>
                <p id="tour-text">{ step.text.clone() }</p>
            </div>
            <div class="tour-nav">
                <button class="button" disabled={i == 0} onclick={link.callback(|_| Msg::Tour(TourMsg::Back))}>{ "Back" }</button>
                <span class="tour-dots" aria-hidden="true">
                    { for (0..steps.len()).map(|k| html! { <span class={classes!("tour-dot", (k == i).then_some("on"))}></span> }) }
                </span>
                <button class="button primary tour-next" onclick={link.callback(|_| Msg::Tour(TourMsg::Next))}>
                    { if last { "Finish" } else { "Next" } }
                </button>
            </div>
            <p class="tour-keys" aria-hidden="true">{ "← → or Enter to move · Esc to close" }</p>
            <button class="tour-close" aria-label="Close the tour (Esc)" onclick={link.callback(|_| Msg::Tour(TourMsg::Close))}>{ "×" }</button>
        </div>
    }
}

//! The page's side of the conversation with the inference worker: starting (and restarting) it,
//! posting requests (queued while it starts), the newest-image-wins queue, and its replies.
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::{
    keep_model, own_model, App, Explained, ImageData, Job, LoadedModel, ModelLoad, ModelMsg, Msg, Shown, KEEP_EXISTING, MAX_RESTARTS,
    WORKER_START_MS,
};
use crate::app::bridge::Bridge;
use crate::app::fetch::ModelEntry;
use crate::app::protocol::{Reply, Request, Stage};
use crate::inspect::InspectOptions;
use crate::model::ModelConfig;

impl App {
    pub(super) fn spawn_worker(&mut self, ctx: &Context<Self>) {
        let cb = ctx.link().callback(Msg::Heard);
        self.worker.ready = false;
        self.worker.generation += 1;
        self.worker.image_sent = None;
        match Bridge::spawn(move |h| cb.emit(h)) {
            Ok(b) => {
                self.worker.bridge = Some(b);
                // A worker whose wasm fails to load may die without an error event: give up
                // waiting after a while instead of showing "loading…" forever.
                let generation = self.worker.generation;
                let link = ctx.link().clone();
                let timeout = Closure::once_into_js(move || link.send_message(Msg::WorkerTimeout(generation)));
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(timeout.unchecked_ref(), WORKER_START_MS);
                }
            }
            Err(e) => {
                self.worker.bridge = None;
                self.error = Some(format!("The model cannot run: {e}"));
            }
        }
    }

    pub(super) fn post(&mut self, req: Request, bytes: Option<Rc<Vec<u8>>>) {
        if !self.worker.ready {
            self.worker.outbox.push((req, bytes));
            return;
        }
        if let Some(b) = &self.worker.bridge {
            if let Err(e) = b.send(&req, bytes.as_deref().map(|v| v.as_slice())) {
                self.error = Some(e);
            }
        }
    }

    pub(super) fn seq(&mut self) -> u32 {
        self.worker.next_seq += 1;
        self.worker.next_seq
    }

    fn options(&self) -> InspectOptions {
        InspectOptions { passes: self.passes, alpha_scale: self.alpha, alpha_overrides: Vec::new(), attention: true, top_k: 5 }
    }

    /// Inspect `image` with the current options (latest wins: one job in flight, one queued).
    pub(super) fn request(&mut self, image: Rc<ImageData>) {
        if self.models.current.is_none() {
            self.jobs.waiting = Some(image);
            return;
        }
        if self.jobs.inflight.is_some() {
            self.jobs.queued = Some(image);
            return;
        }
        let seq = self.seq();
        let req = Request::Inspect { seq, image_id: image.id, options: self.options() };
        let bytes = (self.worker.image_sent != Some(image.id)).then(|| image.bytes.clone());
        self.worker.image_sent = Some(image.id);
        self.post(req, bytes);
        self.jobs.inflight = Some(Job { seq, image });
    }

    /// Recompute the image on screen (options or model changed).
    pub(super) fn recompute(&mut self) {
        let image = self.jobs.queued.clone().or_else(|| self.jobs.inflight.as_ref().map(|j| j.image.clone()));
        let image = image.or_else(|| self.jobs.shown.as_ref().map(|s| s.image.clone()));
        if let Some(image) = image {
            self.request(image);
        }
    }

    fn pump(&mut self) {
        if self.jobs.inflight.is_none() {
            if let Some(next) = self.jobs.queued.take() {
                self.request(next);
            }
        }
    }

    /// A newly opened own model built fine: it replaces the previous one in the list and in
    /// the browser's cache (one own model at a time).
    fn keep_own(&mut self, ctx: &Context<Self>, entry: &ModelEntry, config: &str, weights: &Rc<Vec<u8>>) {
        if self.models.own.as_ref().is_some_and(|(_, w)| Rc::ptr_eq(w, weights)) {
            return; // chosen again from the list: already kept
        }
        self.models.own = Some((config.to_string(), weights.clone()));
        if let Some(m) = &mut self.models.manifest {
            m.retain(|e| !e.own);
            m.push(entry.clone());
        }
        let (link, config, weights) = (ctx.link().clone(), config.to_string(), weights.clone());
        wasm_bindgen_futures::spawn_local(async move {
            link.send_message(ModelMsg::OwnStored(own_model::store(&config, weights).await));
        });
    }

    pub(super) fn on_reply(&mut self, ctx: &Context<Self>, reply: Reply, bytes: Option<Vec<u8>>) -> bool {
        match reply {
            Reply::Ready => {
                self.worker.ready = true;
                for (req, bytes) in std::mem::take(&mut self.worker.outbox) {
                    self.post(req, bytes);
                }
            }
            Reply::ModelLoaded { seq, ms, engine, notice, .. } => {
                if self.models.seq == Some(seq) {
                    self.models.seq = None;
                    self.models.load = ModelLoad::Idle;
                    self.models.engine = Some(engine);
                    if notice.is_some() {
                        self.notice = notice;
                    }
                    if self.url_state.debug.as_deref() == Some("lose-device") && !self.debug_fired {
                        // Before the inspection below, so that it meets the lost device.
                        self.debug_fired = true;
                        self.post(Request::DebugLoseDevice, None);
                    }
                    if let Some((entry, config_text, weights)) = self.models.pending.take() {
                        match ModelConfig::from_json(&config_text) {
                            Ok(config) => {
                                let changed = self.models.current.as_ref().is_none_or(|m| m.entry.name != entry.name);
                                if changed {
                                    // Passes come from the new model unless the link asked for some.
                                    self.passes = self.url_state.passes.take();
                                    // Another model has other classes and layers.
                                    self.compare = Default::default();
                                }
                                if entry.own {
                                    self.keep_own(ctx, &entry, &config_text, &weights);
                                }
                                self.models.current = Some(LoadedModel { entry, config, config_text, weights, build_ms: ms });
                            }
                            Err(e) => self.error = Some(format!("The model's config.json is invalid: {e}")),
                        }
                    }
                    match self.jobs.waiting.take() {
                        Some(img) => self.request(img),
                        None => self.recompute(),
                    }
                    if self.url_state.debug.as_deref() == Some("panic-worker") && !self.debug_fired {
                        self.debug_fired = true;
                        self.post(Request::DebugPanic, None);
                    }
                }
            }
            Reply::Inspected { seq, inspection, view, crop, original_size, decode_ms, run_ms, backend, memory, .. } => {
                if self.jobs.inflight.as_ref().is_none_or(|j| j.seq != seq) {
                    return false;
                }
                let job = self.jobs.inflight.take().expect("checked");
                let rgb = bytes.and_then(|b| image::RgbImage::from_raw(view[0], view[1], b));
                match rgb {
                    Some(rgb) => {
                        let passes = inspection.passes.len();
                        let was_last = self.jobs.shown.as_ref().is_none_or(|s| self.view.pass + 1 >= s.inspection.passes.len());
                        if let Some(p) = self.url_state.pass.take() {
                            self.view.pass = p;
                        } else if was_last || self.view.pass >= passes {
                            self.view.pass = passes.saturating_sub(1);
                        }
                        self.view.pass = self.view.pass.min(passes.saturating_sub(1));
                        self.cache.borrow_mut().clear();
                        self.jobs.shown = Some(Shown {
                            view_url: crate::app::render::png_data_url(&rgb),
                            view_rgb: Rc::new(rgb),
                            image: job.image,
                            inspection: Rc::new(inspection),
                            crop,
                            original: original_size,
                            decode_ms,
                            run_ms,
                            backend,
                            worker_memory: memory,
                        });
                        self.error = None;
                        self.worker.restarts = 0;
                    }
                    None => self.error = Some("The worker sent a malformed result.".into()),
                }
                self.pump();
            }
            Reply::Explained { seq, explanation, ms, .. } => match self.jobs.explaining.take() {
                Some((s, inspection)) if s == seq => {
                    self.jobs.explained = Some(Rc::new(Explained { seq, inspection, explanation, ms }));
                }
                other => {
                    self.jobs.explaining = other;
                    return false;
                }
            },
            Reply::Failed { seq, stage, message } => {
                if self.jobs.explaining.as_ref().is_some_and(|e| e.0 == seq) {
                    self.jobs.explaining = None;
                    self.error = Some(format!("The maps could not be compared: {message}."));
                } else if self.models.seq == Some(seq) {
                    let name = self.models.pending.take().map(|p| p.0.name).unwrap_or_default();
                    self.models.seq = None;
                    self.models.load = ModelLoad::Idle;
                    self.error = Some(format!("Model “{name}” could not be loaded: {message}. {}", keep_model(&self.models.current)));
                } else if self.jobs.inflight.as_ref().is_some_and(|j| j.seq == seq) {
                    let job = self.jobs.inflight.take().expect("checked");
                    self.error = Some(match stage {
                        Stage::Image => format!("“{}” cannot be used: {message}. {KEEP_EXISTING}", job.image.name()),
                        _ => format!("The model could not run on “{}”: {message}. {KEEP_EXISTING}", job.image.name()),
                    });
                    self.pump();
                } else {
                    self.error = Some(message);
                }
            }
            // Only until a model reports its actual engine (replies to Probe can come late).
            Reply::Probed { engine } if self.models.engine.is_none() => self.models.engine = Some(engine),
            Reply::Probed { .. } => return false,
            Reply::EngineChanged { engine, message } => {
                self.models.engine = Some(engine);
                self.notice = Some(message);
            }
            Reply::Panicked { message } => {
                self.restart_worker(ctx, &format!("the model crashed ({message})"));
            }
            Reply::StartFailed { message } => self.restart_worker(ctx, &message),
        }
        true
    }

    /// A dead worker is replaced, and given back the model it held.
    pub(super) fn restart_worker(&mut self, ctx: &Context<Self>, why: &str) {
        self.worker.restarts += 1;
        self.jobs.explaining = None;
        if self.worker.restarts > MAX_RESTARTS {
            self.worker.bridge = None;
            self.worker.ready = false;
            self.jobs.inflight = None;
            self.jobs.queued = None;
            self.worker.outbox.clear();
            self.models.seq = None;
            self.models.load = ModelLoad::Idle;
            let keep = if self.jobs.shown.is_some() { format!(" {KEEP_EXISTING}") } else { String::new() };
            self.error = Some(format!("The model engine keeps failing ({why}), so it was stopped.{keep} Reload the page to try again."));
            return;
        }
        let failed = self.jobs.inflight.take().map(|j| j.image.name());
        self.error = Some(match failed {
            Some(name) => format!("Computing “{name}” failed: {why}. The engine was restarted. {KEEP_EXISTING}"),
            None => format!("The engine failed: {why}. It was restarted."),
        });
        self.worker.bridge = None;
        self.worker.outbox.clear();
        self.spawn_worker(ctx);
        self.reload_model();
        self.jobs.queued = None;
    }

    /// Sends the model in use to the worker again (a new worker, or another engine); the result
    /// on screen is recomputed once it is loaded.
    pub(super) fn reload_model(&mut self) {
        let seq = self.seq();
        if let Some(m) = &self.models.current {
            self.models.seq = Some(seq);
            self.models.pending = Some((m.entry.clone(), m.config_text.clone(), m.weights.clone()));
            let req = Request::LoadModel { seq, name: m.entry.name.clone(), config: m.config_text.clone(), backend: self.models.requested };
            let weights = m.weights.clone();
            self.models.load = ModelLoad::Building { name: m.entry.name.clone() };
            self.post(req, Some(weights));
        }
    }
}

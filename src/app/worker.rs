//! The inference worker: owns the model and runs preprocess + inspect off the main thread,
//! so the page never freezes. Built as its own binary (src/bin/worker.rs) that trunk emits
//! as `worker.js` + `worker_bg.wasm` + `worker_loader.js` (see index.html).
use std::cell::RefCell;
use std::rc::Rc;

use candle_core::Device;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use super::backend::Backend;
use super::protocol::{decode, encode, Reply, Request, Stage};
use crate::inspect::inspect;
use crate::model::{io, Model, ModelConfig};
use crate::preprocess::{preprocess, Prepared};

/// The decoded crop of the last image, for the model it was prepared for.
struct CachedImage {
    image_id: u32,
    model: String,
    prepared: Prepared,
}

#[derive(Default)]
struct State {
    model: Option<Model>,
    image: Option<CachedImage>,
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn post(reply: &Reply, bytes: Option<&[u8]>) {
    match encode(reply, bytes) {
        Ok((msg, transfer)) => {
            if let Err(e) = scope().post_message_with_transfer(&msg, &transfer) {
                web_sys::console::error_2(&"worker: postMessage failed".into(), &e);
            }
        }
        Err(e) => web_sys::console::error_1(&e.into()),
    }
}

/// Entry point of the worker binary.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        web_sys::console::error_1(&format!("worker panicked: {message}").into());
        post(&Reply::Panicked { message }, None);
    }));
    let state = Rc::new(RefCell::new(State::default()));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        handle(&mut state.borrow_mut(), &e.data());
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Reply::Ready, None);
}

fn handle(state: &mut State, data: &JsValue) {
    let (request, bytes) = match decode::<Request>(data) {
        Ok(m) => m,
        Err(message) => return post(&Reply::Failed { seq: 0, stage: Stage::Inspect, message }, None),
    };
    let bytes = bytes.unwrap_or_default();
    match request {
        Request::LoadModel { seq, name, config, backend } => {
            let t0 = now();
            match load_model(&config, &bytes, backend) {
                Ok(model) => {
                    state.model = Some(model);
                    state.image = None;
                    post(&Reply::ModelLoaded { seq, name, ms: now() - t0 }, None);
                }
                Err(message) => post(&Reply::Failed { seq, stage: Stage::Model, message }, None),
            }
        }
        Request::DebugPanic => panic!("deliberate panic in the worker (?debug=panic-worker)"),
        Request::Inspect { seq, image_id, options } => {
            let Some(model) = &state.model else {
                let message = "no model is loaded yet".to_string();
                return post(&Reply::Failed { seq, stage: Stage::Inspect, message }, None);
            };
            let t0 = now();
            let reuse = state.image.as_ref().is_some_and(|c| c.image_id == image_id && c.model == model.config.name);
            if !reuse {
                match preprocess(&bytes, &model.config.input) {
                    Ok(prepared) => {
                        state.image = Some(CachedImage { image_id, model: model.config.name.clone(), prepared })
                    }
                    Err(e) => {
                        return post(&Reply::Failed { seq, stage: Stage::Image, message: e.to_string() }, None);
                    }
                }
            }
            let cached = state.image.as_ref().expect("set above");
            let t1 = now();
            match inspect(model, &cached.prepared.input, &options) {
                Ok(inspection) => {
                    let p = &cached.prepared;
                    let reply = Reply::Inspected {
                        seq,
                        image_id,
                        inspection,
                        view: [p.view.width(), p.view.height()],
                        crop: p.crop,
                        original_size: [p.original_size.0, p.original_size.1],
                        decode_ms: if reuse { 0.0 } else { t1 - t0 },
                        run_ms: now() - t1,
                    };
                    post(&reply, Some(p.view.as_raw()));
                }
                Err(e) => post(&Reply::Failed { seq, stage: Stage::Inspect, message: e.to_string() }, None),
            }
        }
    }
}

fn load_model(config: &str, weights: &[u8], backend: Backend) -> Result<Model, String> {
    match backend {
        Backend::Cpu => {}
        Backend::WebGpu => return Err("the WebGPU engine is not built yet".into()),
    }
    let config = ModelConfig::from_json(config).map_err(|e| format!("config.json: {e}"))?;
    if weights.is_empty() {
        return Err("the weights file is empty".into());
    }
    io::from_bytes(&config, weights, &Device::Cpu).map_err(|e| e.to_string())
}

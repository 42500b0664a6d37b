//! The page's handle on the inference worker.
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::protocol::{decode, encode, Reply, Request};

/// Relative to the page, so the app works from a sub-path (trunk emits it at the dist root).
pub const WORKER_URL: &str = "./worker_loader.js";

/// What the page hears from the worker.
pub enum Heard {
    Reply(Reply, Option<Vec<u8>>),
    /// The worker could not start or threw outside Rust (e.g. its wasm failed to load).
    Crashed(String),
}

pub struct Bridge {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl Bridge {
    pub fn spawn(on_heard: impl Fn(Heard) + 'static) -> Result<Bridge, String> {
        let worker = Worker::new(WORKER_URL).map_err(|e| format!("cannot start the worker: {}", js_text(&e)))?;
        let on_heard = std::rc::Rc::new(on_heard);
        let heard = on_heard.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| match decode::<Reply>(&e.data()) {
            Ok((reply, bytes)) => heard(Heard::Reply(reply, bytes)),
            Err(message) => heard(Heard::Crashed(message)),
        });
        let heard = on_heard;
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            e.prevent_default();
            let msg = e.message();
            heard(Heard::Crashed(if msg.is_empty() { "the worker failed to load".into() } else { msg }));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Bridge { worker, _on_message: on_message, _on_error: on_error })
    }

    pub fn send(&self, request: &Request, bytes: Option<&[u8]>) -> Result<(), String> {
        let (msg, transfer) = encode(request, bytes)?;
        self.worker.post_message_with_transfer(&msg, &transfer).map_err(|e| format!("cannot talk to the worker: {}", js_text(&e)))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

/// A JS exception as text.
pub fn js_text(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    v.as_string().unwrap_or_else(|| format!("{v:?}"))
}

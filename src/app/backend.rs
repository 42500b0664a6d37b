//! Which engine runs the model. Today only the candle CPU path exists; the WebGPU engine
//! (src/gpu) plugs in here: `choose` decides, the worker dispatches on [`Backend`].
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// candle on the CPU, compiled to wasm (SIMD128), inside the worker.
    Cpu,
    /// The WebGPU engine (not built yet).
    WebGpu,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Cpu => "CPU",
            Backend::WebGpu => "WebGPU",
        }
    }
}

/// The backend the page uses and why, in words for the badge.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub backend: Backend,
    pub reason: String,
}

/// `requested` is the `?backend=` URL parameter. `webgpu_present`: `navigator.gpu` exists
/// (whether an adapter can be had is for the engine to find out once it exists).
pub fn choose(requested: Option<&str>, webgpu_present: bool) -> Choice {
    let cpu = |reason: &str| Choice { backend: Backend::Cpu, reason: reason.to_string() };
    match requested.map(|r| r.trim().to_ascii_lowercase()) {
        Some(r) if r == "cpu" => cpu("requested with ?backend=cpu"),
        Some(r) if r == "webgpu" || r == "gpu" => cpu("WebGPU requested, but the WebGPU engine is not built yet"),
        _ if !webgpu_present => cpu("this browser has no WebGPU"),
        _ => cpu("the WebGPU engine is not built yet"),
    }
}

/// Whether `navigator.gpu` exists in this context.
pub fn webgpu_present() -> bool {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("navigator"))
        .ok()
        .filter(|n| !n.is_undefined())
        .and_then(|n| js_sys::Reflect::get(&n, &JsValue::from_str("gpu")).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null())
}

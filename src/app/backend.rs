//! Which engine runs the model: what the page asks for ([`Preference`], from `?backend=` or the
//! badge's toggle) and what the worker actually loaded ([`EngineStatus`], with the reason, for
//! the badge).
//! The decision itself is the worker's (`crate::gpu::Backend::load`): only it can see the adapter.
use serde::{Deserialize, Serialize};

pub use crate::gpu::Preference;

/// The executor that runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EngineKind {
    /// candle on the CPU, compiled to wasm (SIMD128), inside the worker.
    Cpu,
    /// The WebGPU engine (`crate::gpu`, WGSL kernels) on the browser's GPU adapter.
    WebGpu,
}

impl EngineKind {
    /// The badge text (the browser tests match it exactly).
    pub fn label(self) -> &'static str {
        match self {
            EngineKind::Cpu => "CPU",
            EngineKind::WebGpu => "WebGPU",
        }
    }
}

/// On the page, `Preference::WebGpu` (`?backend=webgpu`) means WebGPU on any adapter, software
/// ones included; where it cannot be had the worker still falls back to the CPU, but says so in
/// a visible message.
impl Preference {
    /// From the `?backend=` URL value; anything unknown means Auto (URL values never fail).
    pub fn from_param(param: Option<&str>) -> Preference {
        match param.map(|r| r.trim().to_ascii_lowercase()).as_deref() {
            Some("cpu") => Preference::Cpu,
            Some("webgpu" | "gpu") => Preference::WebGpu,
            _ => Preference::Auto,
        }
    }

    /// The `?backend=` value that reproduces this preference (None: Auto, the default).
    pub fn param(self) -> Option<&'static str> {
        match self {
            Preference::Auto => None,
            Preference::Cpu => Some("cpu"),
            Preference::WebGpu => Some("webgpu"),
        }
    }
}

/// The engine the worker runs the current model on, and why, in words for the badge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineStatus {
    pub backend: EngineKind,
    pub reason: String,
    /// The browser offers a WebGPU adapter (software ones included), so WebGPU can be forced.
    pub webgpu: bool,
}

/// Whether `navigator.gpu` exists in this context (window or worker). Without it there is no
/// point asking wgpu for an adapter, and the reason can say so plainly.
#[cfg(target_arch = "wasm32")]
pub fn webgpu_present() -> bool {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("navigator"))
        .ok()
        .filter(|n| !n.is_undefined())
        .and_then(|n| js_sys::Reflect::get(&n, &JsValue::from_str("gpu")).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null())
}

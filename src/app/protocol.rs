//! Messages between the page and the inference worker.
//!
//! Every message is a plain JS object `{ json: string, bytes?: Uint8Array }`: the JSON half is
//! one of the enums below (serde), the optional binary half carries weights, image bytes or the
//! model's view of the image, and is transferred rather than copied.
#[cfg(target_arch = "wasm32")]
use js_sys::{Array, Object, Reflect, Uint8Array};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen::{JsCast, JsValue};

use crate::explain::Explanation;
use crate::inspect::{InspectOptions, Inspection};
use crate::preprocess::Crop;

use super::backend::{EngineKind, EngineStatus, Preference};

/// Page → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Build a model from `config` (config.json text) and the weights in `bytes`, on the engine
    /// `backend` asks for. The worker keeps its previous model when this fails.
    LoadModel { seq: u32, name: String, config: String, backend: Preference },
    /// Preprocess the image in `bytes` and run the passes. `image_id` names the image, so the
    /// worker can reuse its decoded crop when only the options change.
    Inspect { seq: u32, image_id: u32, options: InspectOptions },
    /// Which engine would a model get (`backend` as in `LoadModel`)? Answered with `Probed`, so
    /// the badge is right before any model is loaded (or when none can be).
    Probe { backend: Preference },
    /// Test hook (`?debug=panic-worker`): panic inside the worker, to prove the page survives.
    DebugPanic,
    /// Test hook (`?debug=lose-device`): destroy the WebGPU device, as a browser reclaiming the
    /// GPU would, so the next inspection exercises the recovery path.
    DebugLoseDevice,
    /// Compare the maps of the image last inspected (`image_id`): agreement, class attention,
    /// Grad-CAM and occlusion, with their deletion and insertion curves, for `class` (None: the
    /// prediction) at the conv layer `layer` (None: the last attended one). Grad-CAM needs
    /// gradients, so it runs on the CPU engine.
    Explain {
        seq: u32,
        image_id: u32,
        options: InspectOptions,
        class: Option<usize>,
        #[serde(default)]
        layer: Option<String>,
    },
}

/// What failed, so that the page can word the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    Model,
    Image,
    Inspect,
}

/// Worker → page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// The worker's wasm is up and listening.
    Ready,
    /// `engine` is where the model runs; `notice` is set when that is not what was explicitly
    /// asked for (`?backend=webgpu` without a usable GPU), for a visible message.
    ModelLoaded {
        seq: u32,
        name: String,
        ms: f64,
        engine: EngineStatus,
        notice: Option<String>,
    },
    /// The answer to `Probe`: the engine a model would get.
    Probed {
        engine: EngineStatus,
    },
    /// The engine changed under a loaded model: the GPU device was lost or failed, and the worker
    /// recreated it or moved to the CPU. `message` says what happened.
    EngineChanged {
        engine: EngineStatus,
        message: String,
    },
    /// `bytes` holds the model's view of the image: RGB8, `view[0]` × `view[1]` (width, height).
    Inspected {
        seq: u32,
        image_id: u32,
        inspection: Inspection,
        view: [u32; 2],
        crop: Crop,
        original_size: [u32; 2],
        /// Milliseconds spent decoding and preprocessing (0 when reused) and running the passes.
        decode_ms: f64,
        run_ms: f64,
        /// The engine that computed it (the engine can change under a loaded model).
        backend: EngineKind,
        /// Bytes of the worker's wasm memory afterwards (it only grows): what the image cost.
        memory: u64,
    },
    Explained {
        seq: u32,
        image_id: u32,
        explanation: Explanation,
        ms: f64,
    },
    Failed {
        seq: u32,
        stage: Stage,
        message: String,
    },
    /// The worker's Rust code panicked; the page restarts it.
    Panicked {
        message: String,
    },
    /// Sent by www/worker_loader.js when the worker's wasm cannot be loaded.
    StartFailed {
        message: String,
    },
}

/// The JSON half of a message, parsed; any malformed input is an error, never a panic.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| format!("malformed message: {e}"))
}

/// A message as a JS object plus the list of buffers to transfer with it.
#[cfg(target_arch = "wasm32")]
pub fn encode<T: Serialize>(msg: &T, bytes: Option<&[u8]>) -> Result<(JsValue, Array), String> {
    let json = serde_json::to_string(msg).map_err(|e| format!("cannot encode message: {e}"))?;
    let obj = Object::new();
    let transfer = Array::new();
    set(&obj, "json", &JsValue::from_str(&json))?;
    if let Some(bytes) = bytes {
        let arr = Uint8Array::new_with_length(bytes.len() as u32);
        arr.copy_from(bytes);
        transfer.push(&arr.buffer());
        set(&obj, "bytes", &arr)?;
    }
    Ok((obj.into(), transfer))
}

/// The JSON half parsed, and the binary half copied out.
#[cfg(target_arch = "wasm32")]
pub fn decode<T: DeserializeOwned>(data: &JsValue) -> Result<(T, Option<Vec<u8>>), String> {
    let json = Reflect::get(data, &JsValue::from_str("json"))
        .ok()
        .and_then(|v| v.as_string())
        .ok_or_else(|| "malformed message: no json field".to_string())?;
    let msg = parse(&json)?;
    let bytes = Reflect::get(data, &JsValue::from_str("bytes")).ok().and_then(|v| v.dyn_into::<Uint8Array>().ok()).map(|a| a.to_vec());
    Ok((msg, bytes))
}

#[cfg(target_arch = "wasm32")]
fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), String> {
    Reflect::set(obj, &JsValue::from_str(key), value).map(|_| ()).map_err(|_| format!("cannot set {key}"))
}

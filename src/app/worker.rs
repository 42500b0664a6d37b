//! The inference worker: owns the model and runs preprocess + inspect off the main thread,
//! so the page never freezes. Built as its own binary (src/bin/worker.rs) that trunk emits
//! as `worker.js` + `worker_bg.wasm` + `worker_loader.js` (see index.html).
//!
//! The model runs on the WebGPU engine (`crate::gpu`) or on candle (CPU), as `gpu::Backend::load`
//! decides for the page's request. WebGPU is asynchronous (adapter, device, readback), so requests
//! are handled by one task that drains a queue in arrival order: an inspection can never overtake
//! the model load before it, and two requests never interleave at an `await`.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use candle_core::Device;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use super::backend::{webgpu_present, EngineKind, EngineStatus, Preference};
use super::protocol::{decode, encode, Reply, Request, Stage};
use crate::explain::{explain, ExplainOptions};
use crate::gpu::{self, AdapterSummary, DeviceOptions, GpuError};
use crate::inspect::{InspectOptions, Inspection};
use crate::model::{io, ModelConfig};
use crate::preprocess::{preprocess, Prepared};

/// Points of the page's deletion and insertion curves (plus the start): coarser than the
/// CLI's 16, to keep the comparison within a few seconds on a phone.
const EXPLAIN_STEPS: usize = 8;

/// The last image: its bytes (sent once), and its crop as prepared for a model.
struct CachedImage {
    image_id: u32,
    bytes: Vec<u8>,
    model: String,
    prepared: Prepared,
}

/// The model in use, with what it takes to build it again (a lost GPU device is recreated from
/// the same config and weights, without asking the page to send them again).
struct Loaded {
    config: ModelConfig,
    weights: Vec<u8>,
    requested: Preference,
    exec: gpu::Backend,
    /// The browser offers a WebGPU adapter (the page's toggle offers WebGPU only then).
    webgpu: bool,
    /// The CPU engine's model for explanations (gradients) when `exec` is the GPU, built on
    /// the first request.
    cpu: Option<crate::model::Model>,
}

#[derive(Default)]
struct State {
    model: Option<Loaded>,
    image: Option<CachedImage>,
}

/// Requests not yet handled, and whether the task draining them is running.
#[derive(Default)]
struct Mailbox {
    queue: VecDeque<(Request, Vec<u8>)>,
    running: bool,
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
    let mailbox = Rc::new(RefCell::new(Mailbox::default()));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let (request, bytes) = match decode::<Request>(&e.data()) {
            Ok(m) => m,
            Err(message) => return post(&Reply::Failed { seq: 0, stage: Stage::Inspect, message }, None),
        };
        let mut m = mailbox.borrow_mut();
        m.queue.push_back((request, bytes.unwrap_or_default()));
        if !m.running {
            m.running = true;
            wasm_bindgen_futures::spawn_local(drain(mailbox.clone(), state.clone()));
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Reply::Ready, None);
}

/// Handles queued requests one at a time until the queue is empty.
async fn drain(mailbox: Rc<RefCell<Mailbox>>, state: Rc<RefCell<State>>) {
    loop {
        let next = mailbox.borrow_mut().queue.pop_front();
        let Some((request, bytes)) = next else {
            mailbox.borrow_mut().running = false;
            return;
        };
        // Only this task touches the state, so it may own it across the awaits.
        let mut st = state.take();
        handle(&mut st, request, bytes).await;
        *state.borrow_mut() = st;
    }
}

async fn handle(state: &mut State, request: Request, bytes: Vec<u8>) {
    match request {
        Request::LoadModel { seq, name, config, backend } => {
            let t0 = now();
            match load(&config, bytes, backend).await {
                Ok((loaded, notice)) => {
                    let engine = engine_of(&loaded);
                    // The old model (and its GPU buffers) goes only now: a failed load keeps it.
                    // The image stays: its crop is prepared again for the new model's input.
                    state.model = Some(loaded);
                    post(&Reply::ModelLoaded { seq, name, ms: now() - t0, engine, notice }, None);
                }
                Err(message) => post(&Reply::Failed { seq, stage: Stage::Model, message }, None),
            }
        }
        Request::Probe { backend } => {
            let engine = engine_of_choice(choose(backend).await, backend);
            post(&Reply::Probed { engine }, None);
        }
        Request::DebugPanic => panic!("deliberate panic in the worker (?debug=panic-worker)"),
        Request::DebugLoseDevice => {
            if let Some(Loaded { exec: gpu::Backend::Gpu(engine), .. }) = &state.model {
                engine.destroy_device();
                // The loss is reported through a promise: wait for it (bounded), so the next
                // inspection meets a device already known to be lost, as after a real loss.
                for _ in 0..100 {
                    if engine.lost().is_some() {
                        break;
                    }
                    sleep(20).await;
                }
            }
        }
        Request::Explain { seq, image_id, options, class, layer } => {
            let State { model, image } = state;
            let (Some(model), Some(cached)) = (model.as_mut(), image.as_ref().filter(|c| c.image_id == image_id)) else {
                let message = "the image changed; compare again".to_string();
                return post(&Reply::Failed { seq, stage: Stage::Inspect, message }, None);
            };
            let t0 = now();
            let cpu = match (&model.exec, &mut model.cpu) {
                (gpu::Backend::Cpu { model, .. }, _) => model.as_ref(),
                (gpu::Backend::Gpu(_), Some(m)) => &*m,
                (gpu::Backend::Gpu(_), slot) => match io::from_bytes(&model.config, &model.weights, &Device::Cpu) {
                    Ok(m) => slot.insert(m),
                    Err(e) => return post(&Reply::Failed { seq, stage: Stage::Inspect, message: e.to_string() }, None),
                },
            };
            if class.is_some_and(|c| c >= model.config.num_classes()) {
                let message = format!("class {} is not one of the model's {} classes", class.unwrap_or(0), model.config.num_classes());
                return post(&Reply::Failed { seq, stage: Stage::Inspect, message }, None);
            }
            let opts = ExplainOptions { class, layer, steps: EXPLAIN_STEPS, ..Default::default() };
            match explain(cpu, &cached.prepared.input, &options, &opts) {
                Ok(explanation) => post(&Reply::Explained { seq, image_id, explanation, ms: now() - t0 }, None),
                Err(e) => post(&Reply::Failed { seq, stage: Stage::Inspect, message: e.to_string() }, None),
            }
        }
        Request::Inspect { seq, image_id, options } => {
            let State { model, image } = state;
            let Some(model) = model else {
                let message = "no model is loaded yet".to_string();
                return post(&Reply::Failed { seq, stage: Stage::Inspect, message }, None);
            };
            let t0 = now();
            // The page sends an image's bytes once; later requests (other options, another
            // model) name it by id.
            let known = image.take().filter(|c| c.image_id == image_id);
            let reuse = known.as_ref().is_some_and(|c| c.model == model.config.name && bytes.is_empty());
            if reuse {
                *image = known;
            } else {
                let bytes = match (bytes.is_empty(), known) {
                    (false, _) => bytes,
                    (true, Some(c)) => c.bytes,
                    (true, None) => {
                        let message = "the image did not reach the engine; choose it again".to_string();
                        return post(&Reply::Failed { seq, stage: Stage::Image, message }, None);
                    }
                };
                match preprocess(&bytes, &model.config.input) {
                    Ok(prepared) => *image = Some(CachedImage { image_id, bytes, model: model.config.name.clone(), prepared }),
                    Err(e) => return post(&Reply::Failed { seq, stage: Stage::Image, message: e.to_string() }, None),
                }
            }
            let Some(cached) = image.as_ref() else { return };
            let t1 = now();
            match run(model, &cached.prepared.input, &options).await {
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
                        backend: if model.exec.is_gpu() { EngineKind::WebGpu } else { EngineKind::Cpu },
                        memory: wasm_memory_bytes(),
                    };
                    post(&reply, Some(p.view.as_raw()));
                }
                Err(e) => post(&Reply::Failed { seq, stage: Stage::Inspect, message: e.to_string() }, None),
            }
        }
    }
}

async fn load(config: &str, weights: Vec<u8>, requested: Preference) -> Result<(Loaded, Option<String>), String> {
    let config = ModelConfig::from_json(config).map_err(|e| format!("config.json: {e}"))?;
    if weights.is_empty() {
        return Err("the weights file is empty".into());
    }
    let Opened { exec, notice, webgpu } = open(&config, &weights, requested).await.map_err(|e| e.to_string())?;
    Ok((Loaded { config, weights, requested, exec, webgpu, cpu: None }, notice))
}

/// The engine a request gets in this browser, decided before any model or device is opened.
enum Choice {
    /// Try the WebGPU engine on this adapter (a device, limit or shader error can still end on
    /// the CPU when the model is loaded).
    Gpu(AdapterSummary),
    Cpu {
        reason: String,
        /// Whether the browser offers a WebGPU adapter at all.
        webgpu: bool,
    },
}

async fn choose(requested: Preference) -> Choice {
    // The common reasons, in words for the badge (wgpu's own "no adapter" error lists every
    // backend it was not compiled with).
    let adapter = if !webgpu_present() {
        Err("this browser has no WebGPU")
    } else {
        gpu::probe_adapter(&DeviceOptions::default()).await.map_err(|e| {
            web_sys::console::info_1(&format!("worker: {e}").into());
            "the browser offers no WebGPU adapter"
        })
    };
    let webgpu = adapter.is_ok();
    let cpu = |reason: &str| Choice::Cpu { reason: reason.to_string(), webgpu };
    match (requested, adapter) {
        (Preference::Cpu, _) => cpu("requested with ?backend=cpu"),
        (_, Err(why)) => cpu(why),
        (Preference::Auto, Ok(a)) if a.software => cpu("only a software WebGPU adapter is available, slower than the CPU"),
        (_, Ok(a)) => Choice::Gpu(a),
    }
}

/// The badge's view of a choice, before a model is loaded (`Request::Probe`).
fn engine_of_choice(choice: Choice, requested: Preference) -> EngineStatus {
    match choice {
        Choice::Gpu(a) => EngineStatus { backend: EngineKind::WebGpu, reason: gpu_reason(requested, &a), webgpu: true },
        Choice::Cpu { reason, webgpu } => EngineStatus { backend: EngineKind::Cpu, reason, webgpu },
    }
}

/// A model opened on an engine.
struct Opened {
    exec: gpu::Backend,
    /// For the page when WebGPU was asked for explicitly and could not be had (Auto falling
    /// back to the CPU is expected, not news).
    notice: Option<String>,
    /// Whether the browser offers a WebGPU adapter at all.
    webgpu: bool,
}

/// The model on the engine `requested` asks for. Only a model error (bad config or weights)
/// fails: any GPU problem ends on the CPU, with the reason.
async fn open(config: &ModelConfig, weights: &[u8], requested: Preference) -> Result<Opened, GpuError> {
    let notice = |why: &str| {
        (requested == Preference::WebGpu).then(|| format!("WebGPU was requested, but {why}. The model runs on the CPU instead."))
    };
    match choose(requested).await {
        Choice::Cpu { reason, webgpu } => Ok(Opened { notice: notice(&reason), exec: on_cpu(config, weights, reason)?, webgpu }),
        // Auto falls back to the CPU inside `load` (device, limit or shader errors, with the reason).
        Choice::Gpu(_) => match gpu::Backend::load(config, weights, requested).await {
            Err(e) if !matches!(e, GpuError::Model(_)) => {
                let why = format!("WebGPU could not be used ({e})");
                Ok(Opened { notice: notice(&why), exec: on_cpu(config, weights, why)?, webgpu: true })
            }
            other => Ok(Opened { exec: other?, notice: None, webgpu: true }),
        },
    }
}

fn on_cpu(config: &ModelConfig, weights: &[u8], reason: String) -> Result<gpu::Backend, GpuError> {
    let model = io::from_bytes(config, weights, &Device::Cpu)?;
    Ok(gpu::Backend::Cpu { model: Box::new(model), reason })
}

/// Inspect on the model's engine. A GPU failure is not the end: a lost device is reopened once
/// (it may come back, e.g. after a driver reset); any other GPU error, or a second failure, moves
/// the model to the CPU. Each change reaches the page as `EngineChanged`, and the request is run
/// again, so a GPU problem costs time, never the result.
async fn run(model: &mut Loaded, input: &[f32], options: &InspectOptions) -> Result<Inspection, GpuError> {
    let mut reopened = false;
    loop {
        let error = match model.exec.inspect(input, options).await {
            Ok(inspection) => return Ok(inspection),
            // The CPU engine fails only with model errors, so the loop ends there at the latest.
            Err(e) if matches!(e, GpuError::Model(_)) || !model.exec.is_gpu() => return Err(e),
            Err(e) => e,
        };
        let lost = error.is_device_lost() || matches!(&model.exec, gpu::Backend::Gpu(g) if g.lost().is_some());
        let (exec, message) = if lost && !reopened {
            reopened = true;
            let Opened { exec, webgpu, .. } = open(&model.config, &model.weights, model.requested).await?;
            model.webgpu = webgpu;
            let why = match &error {
                GpuError::DeviceLost(why) => why.trim_end_matches('.').to_string(),
                other => other.to_string(),
            };
            let message = match &exec {
                gpu::Backend::Gpu(_) => format!("The GPU device was lost ({why}); a new one was opened."),
                gpu::Backend::Cpu { .. } => {
                    format!("The GPU device was lost ({why}) and could not be reopened: the model runs on the CPU now.")
                }
            };
            (exec, message)
        } else {
            let reason = format!("WebGPU failed ({error}), so the CPU runs the model");
            let exec = on_cpu(&model.config, &model.weights, reason)?;
            (exec, format!("WebGPU failed ({error}): the model runs on the CPU now."))
        };
        model.exec = exec;
        post(&Reply::EngineChanged { engine: engine_of(model), message }, None);
    }
}

/// The badge's view of a loaded model's engine.
fn engine_of(model: &Loaded) -> EngineStatus {
    match &model.exec {
        gpu::Backend::Gpu(engine) => {
            EngineStatus { backend: EngineKind::WebGpu, reason: gpu_reason(model.requested, engine.adapter()), webgpu: true }
        }
        gpu::Backend::Cpu { reason, .. } => EngineStatus { backend: EngineKind::Cpu, reason: reason.clone(), webgpu: model.webgpu },
    }
}

/// The badge's reason for WebGPU: whether it was asked for, and the adapter in words (browsers
/// often hide its name, for privacy, so say what is known).
fn gpu_reason(requested: Preference, a: &AdapterSummary) -> String {
    let asked = if requested == Preference::WebGpu { "requested with ?backend=webgpu; " } else { "" };
    let adapter = if a.software {
        "a software adapter (slower than a real GPU)"
    } else if a.name.trim().is_empty() {
        "the GPU"
    } else {
        &a.name
    };
    format!("{asked}running on {adapter}")
}

/// The size of this worker's wasm memory.
fn wasm_memory_bytes() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as u64
}

/// Resolves after `ms` milliseconds (the worker's setTimeout).
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

//! The page: one Yew component that owns the state (model, image, result, view options),
//! talks to the inference worker (`worker_link`) and draws the views (`view/`).
mod large_photo;
mod own_model;
mod samples;
mod tour;
mod view;
mod worker_link;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, File, KeyboardEvent, MediaStream, Url};
use yew::prelude::*;

use super::backend::{EngineKind, EngineStatus, Preference};
use super::bridge::{js_text, Bridge, Heard};
use super::export;
use super::fetch::{self, ModelEntry};
use super::model_files::ModelFiles;
use super::protocol::Request;
use super::url_state::{UrlState, MAX_ALPHA_SCALE, MAX_PASSES, TEST_HOOKS_KEY};
use crate::explain::Explanation;
use crate::inspect::Inspection;
use crate::model::ModelConfig;
use crate::preprocess::{Crop, MAX_BYTES};
use crate::viz::{ColorMap, Normalization};

/// A URL an image is displayed from; object URLs are revoked when the last user lets go.
pub struct DisplayUrl {
    pub url: String,
    revoke: bool,
}

impl Drop for DisplayUrl {
    fn drop(&mut self) {
        if self.revoke {
            let _ = Url::revoke_object_url(&self.url);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Sample(&'static str),
    File(String),
    Camera,
}

/// An image the user chose (or a sample), with its bytes.
pub struct ImageData {
    pub id: u32,
    /// What the worker decodes: the file, or the browser's smaller copy of a large photo.
    pub bytes: Rc<Vec<u8>>,
    pub source: Source,
    pub display: Rc<DisplayUrl>,
    /// A large photo's size before the browser shrank it (`large_photo`).
    pub shrunk_from: Option<[u32; 2]>,
}

impl ImageData {
    pub fn name(&self) -> String {
        match &self.source {
            Source::Sample(id) => samples::find(id).map_or(id.to_string(), |s| format!("sample: {}", s.label)),
            Source::File(name) => name.clone(),
            Source::Camera => "camera snapshot".into(),
        }
    }
}

/// The result on screen.
pub struct Shown {
    pub image: Rc<ImageData>,
    pub inspection: Rc<Inspection>,
    /// The model's view of the image (PNG data URL) and its size.
    pub view_url: String,
    pub view_rgb: Rc<image::RgbImage>,
    pub crop: Crop,
    pub original: [u32; 2],
    pub decode_ms: f64,
    pub run_ms: f64,
    /// The engine that computed it.
    pub backend: EngineKind,
    /// Bytes of the worker's wasm memory after it (for the tests: `data-worker-memory`).
    pub worker_memory: u64,
}

impl Shown {
    /// The index (in the model's classes) of the class the image really shows: known for the
    /// samples, where the model's classes include it; `None` for the user's own images.
    pub fn true_class(&self) -> Option<usize> {
        let Source::Sample(id) = self.image.source else { return None };
        let class = samples::find(id)?.class;
        self.inspection.classes.iter().position(|c| c == class)
    }
}

/// The model the worker holds (kept whole so a restarted worker gets it back without a download).
pub struct LoadedModel {
    pub entry: ModelEntry,
    pub config: ModelConfig,
    config_text: String,
    weights: Rc<Vec<u8>>,
    pub build_ms: f64,
}

pub enum ModelLoad {
    Idle,
    Downloading {
        name: String,
        loaded: f64,
        total: Option<f64>,
    },
    /// Reading the user's own model from their files.
    Reading {
        loaded: f64,
        total: Option<f64>,
    },
    Building {
        name: String,
    },
}

/// View options: UI-only, they redraw without recomputing.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewOpts {
    pub pass: usize,
    pub norm: Normalization,
    pub cmap: ColorMap,
    pub acmap: ColorMap,
    pub opacity: f32,
    pub smooth: bool,
    pub all_passes: bool,
    pub photo: bool,
    /// Presentation mode, for a projector: settings hidden, everything larger.
    pub present: bool,
}

struct Job {
    seq: u32,
    image: Rc<ImageData>,
}

pub enum Msg {
    Heard(Heard),
    WorkerTimeout(u32),
    Model(ModelMsg),
    Image(ImageMsg),
    Run(RunMsg),
    View(ViewMsg),
    Export(ExportMsg),
    Tour(tour::TourMsg),
    DismissError,
}

/// The models on offer, the choice, its download and the engine it runs on.
pub enum ModelMsg {
    /// The shipped models, and the user's own model kept by an earlier visit.
    Manifest(Result<Vec<ModelEntry>, String>, Option<ModelFiles>),
    Select(String),
    Progress {
        seq: u32,
        loaded: f64,
        total: Option<f64>,
    },
    Fetched {
        seq: u32,
        entry: ModelEntry,
        result: Result<(String, Vec<u8>), String>,
    },
    /// The badge's toggle: run the model on this engine from now on (kept in the URL).
    SetBackend(Preference),
    /// "Open your model…": the picked files (two, a folder's or a .zip).
    OpenOwn(Vec<File>),
    OwnRead {
        seq: u32,
        result: Result<ModelFiles, String>,
    },
    /// The browser kept the own model (or says why it could not).
    OwnStored(Result<(), String>),
    /// Forget the own model (and switch away from it).
    RemoveOwn,
}

/// The image: a sample, a file (picked, dropped or pasted) or a camera snapshot.
pub enum ImageMsg {
    PickSample(&'static str),
    SampleFetched {
        id: &'static str,
        result: Result<Vec<u8>, String>,
    },
    OpenFile(File),
    /// A file read: the bytes for the worker and, for a large photo the browser shrank, its size.
    FileRead {
        name: String,
        url: String,
        result: Result<(Vec<u8>, Option<[u32; 2]>), String>,
    },
    Dragging(bool),
    StartCamera,
    CameraStarted(Result<MediaStream, String>),
    Capture,
    StopCamera,
}

/// What the model computes: they rerun it.
pub enum RunMsg {
    SetPasses(usize),
    SetAlpha(f32),
    /// Compare the result shown with Grad-CAM and occlusion (view/explain.rs).
    Explain,
    /// The comparison's class (None: the prediction) and conv layer (None: the last attended);
    /// a comparison on screen is computed again for them.
    ExplainClass(Option<usize>),
    ExplainLayer(Option<String>),
}

/// How the result is shown: they redraw, never rerun.
pub enum ViewMsg {
    SetPass(usize),
    StepPass(i32),
    /// Start or stop stepping through the passes on a timer; a tick shows the next pass.
    Play(bool),
    PlayTick,
    SetNorm(Normalization),
    SetCmap(ColorMap),
    SetAcmap(ColorMap),
    SetOpacity(f32),
    SetSmooth(bool),
    SetAllPasses(bool),
    SetPhoto(bool),
    SetPresent(bool),
    /// The comparison card's "each head" switch.
    SetCompareHeads(bool),
    /// The window became phone-sized (true) or wider (false).
    Narrow(bool),
}

pub enum ExportMsg {
    Png,
    Json,
    /// The comparison of maps on screen as `explain.json`.
    ExplanationJson,
    CopyLink,
    LinkCopied(bool),
}

macro_rules! into_msg {
    ($($part:ty => $variant:ident),*) => {$(
        impl From<$part> for Msg {
            fn from(m: $part) -> Msg {
                Msg::$variant(m)
            }
        }
    )*};
}
into_msg!(ModelMsg => Model, ImageMsg => Image, RunMsg => Run, ViewMsg => View, ExportMsg => Export, tour::TourMsg => Tour);

/// The conversation with the inference worker (worker_link.rs).
struct WorkerConn {
    bridge: Option<Bridge>,
    ready: bool,
    /// Which start of the worker this is (a timeout names the one it was set for).
    generation: u32,
    restarts: u32,
    /// Requests waiting for the worker to start (or restart).
    outbox: Vec<(Request, Option<Rc<Vec<u8>>>)>,
    next_seq: u32,
    /// The image whose bytes this worker has (it keeps the last one; α and passes changes
    /// name it by id instead of sending a large photo again).
    image_sent: Option<u32>,
}

/// The models on offer and the one in use.
pub struct ModelSlot {
    pub manifest: Option<Vec<ModelEntry>>,
    pub current: Option<LoadedModel>,
    pub load: ModelLoad,
    /// seq of the model download/build in progress.
    pub seq: Option<u32>,
    pending: Option<(ModelEntry, String, Rc<Vec<u8>>)>,
    /// The user's own model: its config text and weights (also kept in the browser's cache).
    pub own: Option<(String, Rc<Vec<u8>>)>,
    /// The engine asked for (`?backend=`, or the badge's toggle).
    pub requested: Preference,
    /// The engine the worker runs the model on, as it last reported (None before any model).
    pub engine: Option<EngineStatus>,
}

/// Images on their way through the worker, and the result shown.
pub struct Jobs {
    pub shown: Option<Shown>,
    inflight: Option<Job>,
    queued: Option<Rc<ImageData>>,
    sample_cache: HashMap<&'static str, Rc<Vec<u8>>>,
    /// The image to inspect once a model is loaded.
    waiting: Option<Rc<ImageData>>,
    next_image_id: u32,
    /// The map comparison being computed: (seq, the inspection it goes with).
    pub explaining: Option<(u32, Rc<Inspection>)>,
    pub explained: Option<Rc<Explained>>,
}

/// A comparison of maps (Grad-CAM, occlusion, …) for one shown result.
pub struct Explained {
    pub seq: u32,
    /// The inspection it goes with (a new one makes it stale).
    pub inspection: Rc<Inspection>,
    pub explanation: Explanation,
    pub ms: f64,
}

/// The guided tour (tour.rs).
pub struct TourState {
    /// The step shown, when the tour is open.
    pub step: Option<usize>,
    /// Whether the tour is open, for the window's key handler (which outlives any borrow of App).
    open: Rc<Cell<bool>>,
    /// The step the dialog was last placed for; focus requests for the next redraw.
    placed: Option<usize>,
    focus_in: bool,
    return_focus: bool,
    pub button: NodeRef,
    pub dialog: NodeRef,
}

/// What the comparison of maps is for: chosen in its card, kept until the model changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareChoice {
    pub class: Option<usize>,
    pub layer: Option<String>,
    /// Show the class attention of each head beside the mean.
    pub heads: bool,
}

pub struct App {
    url_state: UrlState,
    pub compare: CompareChoice,
    worker: WorkerConn,
    pub models: ModelSlot,
    pub jobs: Jobs,
    pub tour: TourState,
    passes: Option<usize>,
    alpha: f32,
    view: ViewOpts,
    error: Option<String>,
    notice: Option<String>,
    dragging: bool,
    camera: Option<MediaStream>,
    video_ref: NodeRef,
    model_select: NodeRef,
    /// Drawn images and charts of the current result, by key (cleared with each result).
    cache: RefCell<HashMap<String, Rc<str>>>,
    last_query: String,
    /// `?debug=panic-worker` fires once.
    debug_fired: bool,
    /// Stepping through the passes on a timer (the stepper's Play button).
    playing: Option<Interval>,
    /// A phone-sized window (max-width 639px): maps a row per layer, charts drawn narrow.
    narrow: bool,
    _narrow_change: Option<Closure<dyn FnMut(web_sys::Event)>>,
    _keydown: Closure<dyn FnMut(KeyboardEvent)>,
    _paste: Closure<dyn FnMut(web_sys::ClipboardEvent)>,
}

const KEEP_EXISTING: &str = "The previous result is still shown.";

impl App {
    fn link_send(ctx: &Context<Self>) -> Callback<Msg> {
        ctx.link().callback(|m| m)
    }

    fn new_image(&mut self, bytes: Rc<Vec<u8>>, source: Source, display: DisplayUrl) -> Rc<ImageData> {
        self.jobs.next_image_id += 1;
        Rc::new(ImageData { id: self.jobs.next_image_id, bytes, source, display: Rc::new(display), shrunk_from: None })
    }

    fn pick_sample(&mut self, ctx: &Context<Self>, id: &'static str) {
        let Some(sample) = samples::find(id) else { return };
        if let Some(bytes) = self.jobs.sample_cache.get(id).cloned() {
            let img = self.new_image(bytes, Source::Sample(id), DisplayUrl { url: sample.file.into(), revoke: false });
            self.request(img);
            return;
        }
        let link = ctx.link().clone();
        let file = sample.file;
        wasm_bindgen_futures::spawn_local(async move {
            let result = fetch::get_bytes(file, None).await;
            link.send_message(ImageMsg::SampleFetched { id, result });
        });
    }

    fn select_model(&mut self, ctx: &Context<Self>, name: &str) {
        let Some(entry) = self.models.manifest.as_ref().and_then(|m| m.iter().find(|e| e.name == name)).cloned() else {
            self.error = Some(format!("There is no model called “{name}”."));
            return;
        };
        if self.models.current.as_ref().is_some_and(|m| m.entry.name == name) && self.models.seq.is_none() {
            return;
        }
        if entry.own {
            // The own model's bytes are in memory (opened, or read back from the browser's cache).
            let Some((config, weights)) = self.models.own.clone() else { return };
            let seq = self.seq();
            self.models.seq = Some(seq);
            self.start_load(seq, entry, config, weights);
            return;
        }
        let seq = self.seq();
        self.models.seq = Some(seq);
        self.models.load = ModelLoad::Downloading { name: entry.name.clone(), loaded: 0.0, total: entry.bytes.map(|b| b as f64) };
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(async move {
            let dir = entry.dir();
            let progress_link = link.clone();
            let progress: fetch::Progress =
                Rc::new(move |loaded, total| progress_link.send_message(ModelMsg::Progress { seq, loaded, total }));
            let result = async {
                let config = fetch::get_text(&format!("{dir}/config.json")).await?;
                let weights = fetch::get_bytes(&format!("{dir}/model.safetensors"), Some(progress)).await?;
                Ok::<_, String>((config, weights))
            }
            .await;
            link.send_message(ModelMsg::Fetched { seq, entry, result });
        });
    }

    /// Ask the worker to compare the maps of the result shown (for the chosen class and layer).
    fn explain(&mut self) {
        let Some(shown) = &self.jobs.shown else { return };
        let (image_id, inspection) = (shown.image.id, shown.inspection.clone());
        let seq = self.seq();
        let (class, layer) = (self.compare.class, self.compare.layer.clone());
        let req = Request::Explain { seq, image_id, options: inspection.options.clone(), class, layer };
        self.jobs.explaining = Some((seq, inspection));
        self.post(req, None);
    }

    /// Whether a comparison for the result on screen is shown (or being computed).
    fn explanation_shown(&self) -> bool {
        let Some(shown) = &self.jobs.shown else { return false };
        self.jobs.explaining.as_ref().is_some_and(|(_, i)| Rc::ptr_eq(i, &shown.inspection))
            || self.jobs.explained.as_ref().is_some_and(|e| Rc::ptr_eq(&e.inspection, &shown.inspection))
    }

    /// Send a model to the worker; it becomes current when the worker has built it.
    fn start_load(&mut self, seq: u32, entry: ModelEntry, config: String, weights: Rc<Vec<u8>>) {
        self.models.load = ModelLoad::Building { name: entry.name.clone() };
        let req = Request::LoadModel { seq, name: entry.name.clone(), config: config.clone(), backend: self.models.requested };
        self.models.pending = Some((entry, config, weights.clone()));
        self.post(req, Some(weights));
    }

    fn open_own(&mut self, ctx: &Context<Self>, files: Vec<File>) {
        if files.is_empty() {
            return;
        }
        let seq = self.seq();
        self.models.seq = Some(seq);
        self.models.load = ModelLoad::Reading { loaded: 0.0, total: None };
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(async move {
            let progress_link = link.clone();
            let progress: fetch::Progress =
                Rc::new(move |loaded, total| progress_link.send_message(ModelMsg::Progress { seq, loaded, total }));
            let result = own_model::read(files, progress).await;
            link.send_message(ModelMsg::OwnRead { seq, result });
        });
    }

    /// The user's own model read: its config is checked here (the CLI's messages), its weights
    /// by the worker; it joins the list once the worker has built it.
    fn own_read(&mut self, seq: u32, result: Result<ModelFiles, String>) {
        let checked = result.and_then(|files| match ModelConfig::from_json(&files.config) {
            Ok(cfg) => Ok((cfg, files)),
            Err(e) => Err(format!("config.json: {e}")),
        });
        match checked {
            Ok((cfg, files)) => {
                let entry = own_entry(&cfg, files.weights.len());
                self.start_load(seq, entry, files.config, Rc::new(files.weights));
            }
            Err(e) => {
                self.models.seq = None;
                self.models.load = ModelLoad::Idle;
                self.error = Some(format!("Your model could not be opened: {e}. {}", keep_model(&self.models.current)));
            }
        }
    }

    fn read_file(&mut self, ctx: &Context<Self>, file: File) {
        let name = file.name();
        let size = file.size();
        if size > MAX_BYTES as f64 {
            self.error = Some(format!(
                "“{name}” is too large ({}); the limit is {}. {KEEP_EXISTING}",
                fetch::human_bytes(size),
                fetch::human_bytes(MAX_BYTES as f64)
            ));
            return;
        }
        let url = Url::create_object_url_with_blob(&file).unwrap_or_default();
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = match fetch::blob_bytes(&file).await {
                Ok(bytes) => match large_photo::shrink(&file, &bytes).await {
                    Ok(Some(shrunk)) => Ok((shrunk.png, Some(shrunk.original))),
                    Ok(None) => Ok((bytes, None)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            link.send_message(ImageMsg::FileRead { name, url, result });
        });
    }

    fn status(&self) -> (String, &'static str) {
        match &self.models.load {
            ModelLoad::Downloading { name, loaded, total } => {
                return (format!("downloading {name}…{}", percent_done(*loaded, *total)), "busy")
            }
            ModelLoad::Reading { loaded, total } => return (format!("reading your model…{}", percent_done(*loaded, *total)), "busy"),
            ModelLoad::Building { name } => return (format!("preparing {name}…"), "busy"),
            ModelLoad::Idle => {}
        }
        if self.worker.bridge.is_none() {
            return ("stopped".into(), "bad");
        }
        if self.models.manifest.is_none() && self.models.current.is_none() {
            return ("loading…".into(), "busy");
        }
        if self.jobs.inflight.is_some() || self.jobs.queued.is_some() || self.jobs.waiting.is_some() {
            return ("computing…".into(), "busy");
        }
        if self.jobs.shown.is_some() {
            ("ready".into(), "ok")
        } else if self.models.current.is_some() {
            ("no image yet".into(), "busy")
        } else {
            ("no model".into(), "bad")
        }
    }

    fn current_url_state(&self) -> UrlState {
        let sample = self.jobs.shown.as_ref().and_then(|s| match s.image.source {
            Source::Sample(id) => Some(id.to_string()),
            _ => None,
        });
        UrlState {
            model: self.models.current.as_ref().map(|m| m.entry.name.clone()),
            sample,
            passes: self.passes,
            alpha: (self.alpha != 1.0).then_some(self.alpha),
            pass: self.jobs.shown.as_ref().map(|_| self.view.pass),
            norm: (self.view.norm != Normalization::PerMap).then_some(self.view.norm),
            cmap: (self.view.cmap != ColorMap::Diverging).then_some(self.view.cmap),
            acmap: (self.view.acmap != ColorMap::Sequential).then_some(self.view.acmap),
            opacity: (self.view.opacity != DEFAULT_OPACITY).then_some(self.view.opacity),
            smooth: self.view.smooth.then_some(true),
            all_passes: (!self.view.all_passes).then_some(false),
            photo: self.view.photo.then_some(true),
            present: self.view.present.then_some(true),
            backend: self.models.requested.param().map(String::from),
            debug: None,
        }
    }
}

impl App {
    fn update_model(&mut self, ctx: &Context<Self>, msg: ModelMsg) -> bool {
        match msg {
            ModelMsg::Manifest(Ok(mut entries), own) => {
                // The own model kept by an earlier visit joins the list (a copy that no longer
                // parses, e.g. after a format change, is left out).
                if let Some((cfg, files)) = own.and_then(|f| ModelConfig::from_json(&f.config).ok().map(|c| (c, f))) {
                    entries.push(own_entry(&cfg, files.weights.len()));
                    self.models.own = Some((files.config, Rc::new(files.weights)));
                }
                let wanted = self.url_state.model.take();
                let pick =
                    wanted.as_ref().and_then(|w| entries.iter().find(|e| &e.name == w)).or_else(|| entries.first()).map(|e| e.name.clone());
                if let Some(w) = wanted.filter(|w| !entries.iter().any(|e| &e.name == w)) {
                    self.notice = Some(format!("The link asks for model “{w}”, which this site does not have; showing another."));
                }
                self.models.manifest = Some(entries);
                if let Some(name) = pick {
                    self.select_model(ctx, &name);
                }
            }
            ModelMsg::Manifest(Err(e), _) => {
                self.models.manifest = Some(Vec::new());
                self.error = Some(e);
            }
            ModelMsg::Select(name) => self.select_model(ctx, &name),
            ModelMsg::Progress { seq, loaded, total } => {
                if self.models.seq != Some(seq) {
                    return false;
                }
                if let ModelLoad::Downloading { loaded: l, total: t, .. } | ModelLoad::Reading { loaded: l, total: t } =
                    &mut self.models.load
                {
                    *l = loaded;
                    if total.is_some() {
                        *t = total;
                    }
                }
            }
            ModelMsg::Fetched { seq, entry, result } => {
                if self.models.seq != Some(seq) {
                    return false;
                }
                match result {
                    Ok((config, weights)) => self.start_load(seq, entry, config, Rc::new(weights)),
                    Err(e) => {
                        self.models.seq = None;
                        self.models.load = ModelLoad::Idle;
                        self.error =
                            Some(format!("Model “{}” could not be downloaded: {e}. {}", entry.name, keep_model(&self.models.current)));
                    }
                }
            }
            ModelMsg::SetBackend(requested) => {
                if self.models.seq.is_some() {
                    return false;
                }
                self.models.requested = requested;
                self.notice = None;
                if self.models.current.is_none() {
                    self.models.engine = None;
                    self.post(Request::Probe { backend: requested }, None);
                }
                self.reload_model();
            }
            ModelMsg::OpenOwn(files) => {
                if self.models.seq.is_some() {
                    self.notice = Some("A model is still loading; open yours when it is ready.".into());
                } else {
                    self.open_own(ctx, files);
                }
            }
            ModelMsg::OwnRead { seq, result } => {
                if self.models.seq != Some(seq) {
                    return false;
                }
                self.own_read(seq, result);
            }
            ModelMsg::OwnStored(Ok(())) => return false,
            ModelMsg::OwnStored(Err(e)) => {
                self.notice = Some(format!("Your model is open, but the browser could not keep it for your next visit: {e}."))
            }
            ModelMsg::RemoveOwn => {
                wasm_bindgen_futures::spawn_local(async {
                    if let Err(e) = own_model::remove().await {
                        web_sys::console::warn_1(&format!("removing your model: {e}").into());
                    }
                });
                self.models.own = None;
                if let Some(m) = &mut self.models.manifest {
                    m.retain(|e| !e.own);
                }
                let first = self.models.manifest.as_ref().and_then(|m| m.first()).map(|e| e.name.clone());
                if self.models.current.as_ref().is_some_and(|m| m.entry.own) {
                    match first {
                        Some(name) => self.select_model(ctx, &name),
                        None => self.models.current = None,
                    }
                }
            }
        }
        true
    }

    fn update_image(&mut self, ctx: &Context<Self>, msg: ImageMsg) -> bool {
        match msg {
            ImageMsg::PickSample(id) => self.pick_sample(ctx, id),
            ImageMsg::SampleFetched { id, result } => match result {
                Ok(bytes) => {
                    let bytes = Rc::new(bytes);
                    self.jobs.sample_cache.insert(id, bytes.clone());
                    let file = samples::find(id).map_or("", |s| s.file);
                    let img = self.new_image(bytes, Source::Sample(id), DisplayUrl { url: file.into(), revoke: false });
                    self.request(img);
                }
                Err(e) => self.error = Some(format!("The sample image could not be loaded: {e}")),
            },
            ImageMsg::OpenFile(file) => self.read_file(ctx, file),
            ImageMsg::FileRead { name, url, result } => match result {
                Ok((bytes, shrunk_from)) => {
                    let mut img = self.new_image(Rc::new(bytes), Source::File(name), DisplayUrl { url, revoke: true });
                    if let Some(m) = Rc::get_mut(&mut img) {
                        m.shrunk_from = shrunk_from;
                    }
                    self.request(img);
                }
                Err(e) => {
                    let _ = Url::revoke_object_url(&url);
                    self.error = Some(format!("“{name}” could not be read: {e}. {KEEP_EXISTING}"));
                }
            },
            ImageMsg::Dragging(d) => {
                if self.dragging == d {
                    return false;
                }
                self.dragging = d;
            }
            ImageMsg::StartCamera => {
                let link = ctx.link().clone();
                wasm_bindgen_futures::spawn_local(async move {
                    link.send_message(ImageMsg::CameraStarted(export::start_camera().await));
                });
                return false;
            }
            ImageMsg::CameraStarted(Ok(stream)) => self.camera = Some(stream),
            ImageMsg::CameraStarted(Err(e)) => self.error = Some(format!("The camera is not available: {e}")),
            ImageMsg::Capture => {
                let shot =
                    self.video_ref.cast::<web_sys::HtmlVideoElement>().ok_or("no video".to_string()).and_then(|v| export::snapshot(&v));
                if let Some(s) = self.camera.take() {
                    export::stop_camera(&s);
                }
                match shot {
                    Ok(png) => {
                        let url = object_url(&png, "image/png");
                        let img = self.new_image(Rc::new(png), Source::Camera, DisplayUrl { url, revoke: true });
                        self.request(img);
                    }
                    Err(e) => self.error = Some(format!("The snapshot failed: {e}")),
                }
            }
            ImageMsg::StopCamera => {
                if let Some(s) = self.camera.take() {
                    export::stop_camera(&s);
                }
            }
        }
        true
    }

    fn update_run(&mut self, msg: RunMsg) -> bool {
        match msg {
            RunMsg::SetPasses(n) => {
                let n = n.clamp(1, MAX_PASSES);
                if self.passes != Some(n) {
                    self.passes = Some(n);
                    self.recompute();
                }
            }
            RunMsg::SetAlpha(a) => {
                let a = if a.is_finite() { a.clamp(0.0, MAX_ALPHA_SCALE) } else { 1.0 };
                if (self.alpha - a).abs() > 1e-6 {
                    self.alpha = a;
                    self.recompute();
                }
            }
            RunMsg::Explain => self.explain(),
            RunMsg::ExplainClass(c) => {
                self.compare.class = c;
                if self.explanation_shown() {
                    self.explain();
                }
            }
            RunMsg::ExplainLayer(l) => {
                self.compare.layer = l;
                if self.explanation_shown() {
                    self.explain();
                }
            }
        }
        true
    }

    fn update_view(&mut self, ctx: &Context<Self>, msg: ViewMsg) -> bool {
        let v = &mut self.view;
        match msg {
            // Choosing a pass by hand takes over from Play.
            ViewMsg::SetPass(p) => {
                self.playing = None;
                v.pass = p;
            }
            ViewMsg::StepPass(d) => {
                let was_playing = self.playing.take().is_some();
                return self.step_pass(d) || was_playing;
            }
            ViewMsg::Play(on) => {
                self.playing = if on {
                    let send = Self::link_send(ctx);
                    Interval::start(PLAY_MS, move || send.emit(ViewMsg::PlayTick.into()))
                } else {
                    None
                };
            }
            ViewMsg::PlayTick => {
                let Some(shown) = &self.jobs.shown else { return false };
                v.pass = (v.pass + 1) % shown.inspection.passes.len().max(1);
            }
            ViewMsg::SetNorm(n) => v.norm = n,
            ViewMsg::SetCmap(c) => v.cmap = c,
            ViewMsg::SetAcmap(c) => v.acmap = c,
            ViewMsg::SetOpacity(o) => v.opacity = o.clamp(0.0, 1.0),
            ViewMsg::SetSmooth(s) => v.smooth = s,
            ViewMsg::SetAllPasses(a) => v.all_passes = a,
            ViewMsg::SetPhoto(p) => v.photo = p,
            ViewMsg::SetPresent(on) => {
                if v.present == on {
                    return false;
                }
                v.present = on;
            }
            ViewMsg::SetCompareHeads(on) => self.compare.heads = on,
            ViewMsg::Narrow(narrow) => {
                if self.narrow == narrow {
                    return false;
                }
                self.narrow = narrow;
            }
        }
        true
    }

    fn update_export(&mut self, ctx: &Context<Self>, msg: ExportMsg) -> bool {
        let Some(shown) = &self.jobs.shown else { return false };
        match msg {
            ExportMsg::Png => {
                if let Err(e) = export::figure_png(shown, &self.view) {
                    self.error = Some(format!("The PNG could not be made: {e}"));
                }
            }
            ExportMsg::Json => {
                if let Err(e) = export::inspection_json(&shown.inspection) {
                    self.error = Some(format!("The JSON could not be saved: {e}"));
                }
            }
            ExportMsg::ExplanationJson => {
                let Some(e) = self.jobs.explained.as_ref().filter(|e| Rc::ptr_eq(&e.inspection, &shown.inspection)) else { return false };
                if let Err(err) = export::explanation_json(&e.explanation) {
                    self.error = Some(format!("The JSON could not be saved: {err}"));
                }
            }
            ExportMsg::CopyLink => {
                let link = ctx.link().clone();
                wasm_bindgen_futures::spawn_local(async move {
                    link.send_message(ExportMsg::LinkCopied(export::copy_link().await.is_ok()));
                });
                return false;
            }
            ExportMsg::LinkCopied(ok) => {
                self.notice = Some(if ok {
                    "Link copied: it opens this model, sample, pass and view.".into()
                } else {
                    "Copy the address bar: it holds this model, sample, pass and view.".into()
                });
            }
        }
        true
    }

    /// One pass back (d < 0) or forward; false at either end.
    fn step_pass(&mut self, d: i32) -> bool {
        let Some(shown) = &self.jobs.shown else { return false };
        let n = shown.inspection.passes.len();
        let p = self.view.pass;
        self.view.pass = match d {
            ..=-1 if p > 0 => p - 1,
            1.. if p + 1 < n => p + 1,
            _ => return false,
        };
        true
    }
}

const DEFAULT_OPACITY: f32 = 0.6;
/// How long Play shows each pass.
const PLAY_MS: i32 = 1500;

/// A repeating timer, cleared when dropped.
struct Interval {
    id: i32,
    _tick: Closure<dyn FnMut()>,
}

impl Interval {
    fn start(ms: i32, tick: impl FnMut() + 'static) -> Option<Self> {
        let tick = Closure::<dyn FnMut()>::new(tick);
        let id = web_sys::window()?.set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), ms).ok()?;
        Some(Interval { id, _tick: tick })
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_interval_with_handle(self.id);
        }
    }
}
/// How long a new worker may take to say it is ready (its wasm is ~0.8 MB gzip).
const WORKER_START_MS: i32 = 45_000;
/// Worker crashes in a row (without a result in between) before the page stops restarting it.
const MAX_RESTARTS: u32 = 3;

/// " 42%" of a transfer whose total is known, else nothing.
fn percent_done(loaded: f64, total: Option<f64>) -> String {
    total.filter(|t| *t > 0.0).map(|t| format!(" {:.0}%", 100.0 * loaded / t)).unwrap_or_default()
}

/// The list entry of the user's own model.
fn own_entry(cfg: &ModelConfig, bytes: usize) -> ModelEntry {
    ModelEntry {
        name: format!("{}{}", own_model::LABEL, cfg.name),
        path: None,
        accuracy: None,
        bytes: Some(bytes as u64),
        description: Some("Your own model, opened from this device; it stays in this browser until you remove it.".into()),
        own: true,
    }
}

fn keep_model(model: &Option<LoadedModel>) -> String {
    match model {
        Some(m) => format!("Still using “{}”.", m.entry.name),
        None => "No model is loaded.".into(),
    }
}

/// A Blob URL for bytes we produced ourselves (camera snapshots).
fn object_url(bytes: &[u8], mime: &str) -> String {
    let arr = Uint8Array::new_with_length(bytes.len() as u32);
    arr.copy_from(bytes);
    let parts = Array::of1(&arr);
    let opts = BlobPropertyBag::new();
    opts.set_type(mime);
    Blob::new_with_u8_array_sequence_and_options(&parts, &opts)
        .ok()
        .and_then(|b| Url::create_object_url_with_blob(&b).ok())
        .unwrap_or_default()
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let window = web_sys::window().expect("window");
        let search = window.location().search().unwrap_or_default();
        let mut url_state = UrlState::parse(&search);
        let test_hooks = window.local_storage().ok().flatten().and_then(|s| s.get_item(TEST_HOOKS_KEY).ok().flatten());
        if test_hooks.as_deref() != Some("1") {
            url_state.debug = None;
        }
        let requested = Preference::from_param(url_state.backend.as_deref());

        let send = Self::link_send(ctx);
        let tour_open = Rc::new(Cell::new(false));
        let tour_keys = tour_open.clone();
        let keydown = Closure::<dyn FnMut(KeyboardEvent)>::new(move |e: KeyboardEvent| {
            if e.alt_key() || e.ctrl_key() || e.meta_key() || e.default_prevented() {
                return;
            }
            let tag = e.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).map(|el| el.tag_name()).unwrap_or_default();
            let typing = matches!(tag.as_str(), "INPUT" | "SELECT" | "TEXTAREA");
            if tour_keys.get() {
                // While the tour is open the arrows move the tour, not the passes. Enter on a
                // button presses that button, so it only means "next" elsewhere.
                let msg = match e.key().as_str() {
                    "Escape" => Some(tour::TourMsg::Close),
                    "ArrowRight" if !typing => Some(tour::TourMsg::Forward),
                    "ArrowLeft" if !typing => Some(tour::TourMsg::Back),
                    "Enter" if !typing && !matches!(tag.as_str(), "BUTTON" | "A" | "LABEL" | "SUMMARY") => Some(tour::TourMsg::Next),
                    _ => None,
                };
                if let Some(m) = msg {
                    e.prevent_default();
                    send.emit(Msg::Tour(m));
                }
                return;
            }
            if !typing && matches!(e.key().as_str(), "ArrowLeft" | "ArrowRight") {
                e.prevent_default();
                send.emit(ViewMsg::StepPass(if e.key() == "ArrowLeft" { -1 } else { 1 }).into());
            } else if e.key() == "Escape" {
                send.emit(ViewMsg::SetPresent(false).into());
            }
        });
        let _ = window.add_event_listener_with_callback("keydown", keydown.as_ref().unchecked_ref());
        let send = Self::link_send(ctx);
        let paste = Closure::<dyn FnMut(web_sys::ClipboardEvent)>::new(move |e: web_sys::ClipboardEvent| {
            let file = e.clipboard_data().and_then(|d| d.files()).and_then(|f| f.get(0));
            if let Some(file) = file {
                e.prevent_default();
                send.emit(ImageMsg::OpenFile(file).into());
            }
        });
        let _ = window.add_event_listener_with_callback("paste", paste.as_ref().unchecked_ref());
        // Follows the same breakpoint as the phone CSS; a phone turned sideways re-renders.
        let narrow_query = window.match_media("(max-width: 639px)").ok().flatten();
        let narrow = narrow_query.as_ref().is_some_and(|q| q.matches());
        let narrow_change = narrow_query.map(|q| {
            let send = Self::link_send(ctx);
            let query = q.clone();
            let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| send.emit(ViewMsg::Narrow(query.matches()).into()));
            let _ = q.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
            on_change
        });

        let view = ViewOpts {
            pass: 0,
            norm: url_state.norm.unwrap_or_default(),
            cmap: url_state.cmap.unwrap_or(ColorMap::Diverging),
            acmap: url_state.acmap.unwrap_or(ColorMap::Sequential),
            opacity: url_state.opacity.unwrap_or(DEFAULT_OPACITY),
            smooth: url_state.smooth.unwrap_or(false),
            all_passes: url_state.all_passes.unwrap_or(true),
            photo: url_state.photo.unwrap_or(false),
            present: url_state.present.unwrap_or(false),
        };
        let mut app = App {
            alpha: url_state.alpha.unwrap_or(1.0),
            passes: None,
            url_state,
            compare: CompareChoice::default(),
            worker: WorkerConn {
                bridge: None,
                ready: false,
                generation: 0,
                restarts: 0,
                outbox: Vec::new(),
                next_seq: 0,
                image_sent: None,
            },
            models: ModelSlot {
                manifest: None,
                current: None,
                load: ModelLoad::Idle,
                seq: None,
                pending: None,
                own: None,
                requested,
                engine: None,
            },
            jobs: Jobs {
                shown: None,
                inflight: None,
                queued: None,
                sample_cache: HashMap::new(),
                waiting: None,
                next_image_id: 0,
                explaining: None,
                explained: None,
            },
            view,
            error: None,
            notice: None,
            dragging: false,
            camera: None,
            video_ref: NodeRef::default(),
            model_select: NodeRef::default(),
            cache: RefCell::new(HashMap::new()),
            last_query: search,
            debug_fired: false,
            tour: TourState {
                step: None,
                open: tour_open,
                placed: None,
                focus_in: false,
                return_focus: false,
                button: NodeRef::default(),
                dialog: NodeRef::default(),
            },
            playing: None,
            narrow,
            _narrow_change: narrow_change,
            _keydown: keydown,
            _paste: paste,
        };
        app.spawn_worker(ctx);
        // The badge names the engine before a model arrives (or when none can be loaded).
        app.post(Request::Probe { backend: app.models.requested }, None);
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = match fetch::get_text(fetch::MANIFEST_URL).await {
                Ok(text) => fetch::parse_manifest(&text),
                Err(e) => Err(format!("The list of models could not be loaded: {e}")),
            };
            link.send_message(ModelMsg::Manifest(result, own_model::stored().await));
        });
        let sample = app.url_state.sample.clone().and_then(|s| samples::find(&s)).map_or(samples::DEFAULT_SAMPLE, |s| s.id);
        app.pick_sample(ctx, sample);
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Heard(Heard::Reply(reply, bytes)) => self.on_reply(ctx, reply, bytes),
            Msg::Heard(Heard::Crashed(why)) => {
                self.restart_worker(ctx, &why);
                true
            }
            Msg::WorkerTimeout(generation) => {
                if generation != self.worker.generation || self.worker.ready || self.worker.bridge.is_none() {
                    return false;
                }
                self.restart_worker(ctx, "it did not start in time (is worker_bg.wasm reachable?)");
                true
            }
            Msg::Model(m) => self.update_model(ctx, m),
            Msg::Image(m) => self.update_image(ctx, m),
            Msg::Run(m) => self.update_run(m),
            Msg::View(m) => self.update_view(ctx, m),
            Msg::Export(m) => self.update_export(ctx, m),
            Msg::Tour(m) => {
                // The tour shows the settings cards, which presentation mode hides.
                if m == tour::TourMsg::Start {
                    self.view.present = false;
                }
                self.tour_update(m)
            }
            Msg::DismissError => {
                self.error = None;
                self.notice = None;
                true
            }
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        view::page(self, ctx)
    }

    fn rendered(&mut self, _ctx: &Context<Self>, first: bool) {
        if first && self.url_state.debug.as_deref() == Some("panic-page") {
            panic!("deliberate panic in the page (?debug=panic-page)");
        }
        let query = self.current_url_state().to_query();
        if query != self.last_query && (self.models.current.is_some() || self.jobs.shown.is_some()) {
            if let Some(w) = web_sys::window() {
                let path = w.location().pathname().unwrap_or_default();
                let hash = w.location().hash().unwrap_or_default();
                if let Ok(h) = w.history() {
                    let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{query}{hash}")));
                }
            }
            self.last_query = query;
        }
        // A <select> keeps what the user picked even when that model failed to load: put the
        // model in use back (the virtual DOM did not change, so Yew would not).
        if let (None, Some(m), Some(sel)) = (self.models.seq, &self.models.current, self.model_select.cast::<web_sys::HtmlSelectElement>())
        {
            if sel.value() != m.entry.name {
                sel.set_value(&m.entry.name);
            }
        }
        // Presentation mode scales the whole page (its sizes are in rem).
        if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
            let _ = if self.view.present { root.set_attribute("data-present", "") } else { root.remove_attribute("data-present") };
        }
        self.place_tour();
        if let (Some(stream), Some(video)) = (&self.camera, self.video_ref.cast::<web_sys::HtmlVideoElement>()) {
            if video.src_object().is_none() {
                video.set_src_object(Some(stream));
                let _ = video.play();
            }
        }
    }
}

/// Mounts the page into `#app` (replacing its loading message).
pub fn start() {
    super::panic::install();
    let root = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("app"));
    match root {
        Some(root) => {
            root.set_inner_html("");
            yew::Renderer::<App>::with_root(root).render();
        }
        None => {
            yew::Renderer::<App>::new().render();
        }
    }
}

#[allow(dead_code)]
fn js_err(e: JsValue) -> String {
    js_text(&e)
}

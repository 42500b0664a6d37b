//! Downloads with progress (XMLHttpRequest: byte progress events in every browser), and the
//! model manifest `models/index.json`.
use std::rc::Rc;

use js_sys::{Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ProgressEvent, XmlHttpRequest, XmlHttpRequestResponseType};

/// Where the model list lives, relative to the page.
pub const MANIFEST_URL: &str = "models/index.json";

/// One entry of `models/index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    /// Directory of config.json + model.safetensors, relative to the manifest's folder
    /// (`models/`); defaults to the name.
    #[serde(default)]
    pub path: Option<String>,
    /// Test accuracy in [0, 1], if known.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Size of model.safetensors in bytes, if known.
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub description: Option<String>,
    /// The user's own model (opened from their device, kept in the browser), never in the list.
    #[serde(skip)]
    pub own: bool,
}

impl ModelEntry {
    /// The model directory's URL, relative to the page.
    pub fn dir(&self) -> String {
        let path = self.path.as_deref().unwrap_or(&self.name).trim_matches('/');
        let path = path.strip_prefix("models/").unwrap_or(path);
        format!("models/{path}")
    }
}

pub fn parse_manifest(text: &str) -> Result<Vec<ModelEntry>, String> {
    let entries: Vec<ModelEntry> =
        serde_json::from_str(text).map_err(|e| format!("the model list (models/index.json) is malformed: {e}"))?;
    if entries.is_empty() {
        return Err("the model list (models/index.json) is empty".into());
    }
    Ok(entries)
}

/// `loaded`, `total` (when the server says).
pub type Progress = Rc<dyn Fn(f64, Option<f64>)>;

/// GET `url` as bytes; `progress` hears every progress event.
pub async fn get_bytes(url: &str, progress: Option<Progress>) -> Result<Vec<u8>, String> {
    let xhr = XmlHttpRequest::new().map_err(|_| "cannot create a request".to_string())?;
    xhr.open_with_async("GET", url, true).map_err(|_| format!("cannot request {url}"))?;
    xhr.set_response_type(XmlHttpRequestResponseType::Arraybuffer);
    let on_progress = progress.map(|p| {
        Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
            p(e.loaded(), e.length_computable().then(|| e.total()));
        })
    });
    if let Some(cb) = &on_progress {
        xhr.set_onprogress(Some(cb.as_ref().unchecked_ref()));
    }
    let done = Promise::new(&mut |resolve, reject| {
        xhr.set_onload(Some(&resolve));
        xhr.set_onerror(Some(&reject));
        xhr.set_onabort(Some(&reject));
        xhr.set_ontimeout(Some(&reject));
    });
    xhr.send().map_err(|_| format!("cannot request {url}"))?;
    let result = JsFuture::from(done).await;
    xhr.set_onprogress(None);
    drop(on_progress);
    result.map_err(|_| format!("network error while downloading {url}"))?;
    let status = xhr.status().unwrap_or(0);
    if !(200..300).contains(&status) {
        let text = xhr.status_text().unwrap_or_default();
        return Err(format!("downloading {url} failed: HTTP {status} {text}").trim_end().to_string());
    }
    let buf = xhr.response().map_err(|_| format!("no data in {url}"))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

pub async fn get_text(url: &str) -> Result<String, String> {
    let bytes = get_bytes(url, None).await?;
    String::from_utf8(bytes).map_err(|_| format!("{url} is not UTF-8 text"))
}

/// The bytes of a Blob (a picked, dropped or pasted file).
pub async fn blob_bytes(blob: &web_sys::Blob) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(blob.array_buffer()).await.map_err(|_| "the file could not be read".to_string())?;
    Ok(Uint8Array::new(&buf).to_vec())
}

/// The bytes of a large Blob (a model's weights), read in slices so `progress` can follow.
pub async fn blob_bytes_with_progress(blob: &web_sys::Blob, progress: Progress) -> Result<Vec<u8>, String> {
    const SLICE: f64 = (16 << 20) as f64;
    let size = blob.size();
    let mut out = Vec::with_capacity(size as usize);
    let mut at = 0.0;
    while at < size {
        let end = (at + SLICE).min(size);
        let part = blob.slice_with_f64_and_f64(at, end).map_err(|_| "the file could not be read".to_string())?;
        out.extend(blob_bytes(&part).await?);
        at = end;
        progress(at, Some(size));
    }
    Ok(out)
}

/// Megabytes with one decimal (or kB below 1 MB), for download sizes.
pub fn human_bytes(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.0} kB", (n / 1e3).max(1.0))
    }
}

//! The user's own model: read from the picked files (`model_files` decides which), and kept in
//! the browser's Cache Storage so that it survives a reload until the user removes it. Nothing
//! leaves the device: the cache belongs to this site in this browser.
use std::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, File, Response};

use crate::app::fetch::{blob_bytes, blob_bytes_with_progress, Progress};
use crate::app::model_files::{self, Choice, ModelFiles};

/// The cache holding it (www/sw.js leaves this one alone when it clears old versions).
const CACHE: &str = "gattanet-own-model";
const CONFIG_KEY: &str = "own-model/config.json";
const WEIGHTS_KEY: &str = "own-model/model.safetensors";

/// Prefix of its name in the model list, which keeps it apart from the shipped models.
pub const LABEL: &str = "yours: ";

/// Read the model from the picked files (two files, a folder's files or one .zip).
pub async fn read(files: Vec<File>, progress: Progress) -> Result<ModelFiles, String> {
    let names: Vec<(String, u64)> = files
        .iter()
        .map(|f| {
            let path = js_sys::Reflect::get(f, &"webkitRelativePath".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
            (if path.is_empty() { f.name() } else { path }, f.size() as u64)
        })
        .collect();
    match model_files::choose(&names)? {
        Choice::Zip(i) => model_files::unzip(&blob_bytes_with_progress(&files[i], progress).await?),
        Choice::Pair { config, weights } => {
            let config = model_files::config_text(blob_bytes(&files[config]).await?)?;
            let weights = blob_bytes_with_progress(&files[weights], progress).await?;
            Ok(ModelFiles { config, weights })
        }
    }
}

async fn open() -> Result<Cache, String> {
    let window = web_sys::window().ok_or("no window")?;
    let caches = window.caches().map_err(|_| "this browser keeps no cache storage for the page".to_string())?;
    let cache = JsFuture::from(caches.open(CACHE)).await.map_err(|e| format!("the browser's cache refused ({})", js_error(&e)))?;
    Ok(cache.unchecked_into())
}

/// Keep the model for later visits (replacing any kept before).
pub async fn store(config: &str, weights: Rc<Vec<u8>>) -> Result<(), String> {
    let cache = open().await?;
    for (key, bytes) in [(CONFIG_KEY, config.as_bytes()), (WEIGHTS_KEY, weights.as_slice())] {
        let body = Uint8Array::new_with_length(bytes.len() as u32);
        body.copy_from(bytes);
        let response = Response::new_with_opt_buffer_source(Some(&body)).map_err(|e| js_error(&e))?;
        JsFuture::from(cache.put_with_str(key, &response))
            .await
            .map_err(|e| format!("the browser could not keep your model ({})", js_error(&e)))?;
    }
    Ok(())
}

/// The model kept by an earlier visit, if any (a damaged copy reads as none).
pub async fn stored() -> Option<ModelFiles> {
    let cache = open().await.ok()?;
    let mut parts = Vec::new();
    for key in [CONFIG_KEY, WEIGHTS_KEY] {
        let found = JsFuture::from(cache.match_with_str(key)).await.ok()?;
        let response: Response = found.dyn_into().ok()?;
        let buf = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
        parts.push(Uint8Array::new(&buf).to_vec());
    }
    let weights = parts.pop()?;
    let config = String::from_utf8(parts.pop()?).ok()?;
    Some(ModelFiles { config, weights })
}

/// Forget the kept model.
pub async fn remove() -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let caches = window.caches().map_err(|_| "this browser keeps no cache storage for the page".to_string())?;
    JsFuture::from(caches.delete(CACHE)).await.map(|_| ()).map_err(|e| js_error(&e))
}

fn js_error(e: &wasm_bindgen::JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| "unknown error".into())
}

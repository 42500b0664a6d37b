// Starts the inference worker (src/bin/worker.rs, built by trunk as worker.js + worker_bg.wasm).
// Hand-written instead of trunk's data-loader-shim so that a failed wasm download or compile is
// reported to the page (as a Reply::StartFailed message) instead of leaving a silent, dead worker.
try {
  importScripts("./worker.js");
  wasm_bindgen({ module_or_path: "./worker_bg.wasm" }).catch((e) => {
    self.postMessage({ json: JSON.stringify({ StartFailed: { message: "its WebAssembly could not be loaded: " + e } }) });
  });
} catch (e) {
  self.postMessage({ json: JSON.stringify({ StartFailed: { message: "its script could not be loaded: " + e } }) });
}

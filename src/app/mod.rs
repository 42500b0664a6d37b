//! The web page (wasm32 only): a Yew front end (`page`) and an inference Web Worker (`worker`)
//! that runs the model, talking through `protocol` messages. The page binary is
//! src/bin/app.rs, the worker binary src/bin/worker.rs; trunk builds both (index.html).
//!
//! The page's state in the URL (`url_state`), the worker messages (`protocol`) and the engine
//! names (`backend`) and the picking of a user's model files (`model_files`) are plain Rust,
//! compiled natively too: tested and fuzzed there.
pub mod backend;
#[cfg(target_arch = "wasm32")]
mod bridge;
#[cfg(target_arch = "wasm32")]
mod export;
#[cfg(target_arch = "wasm32")]
mod fetch;
pub mod model_files;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod panic;
pub mod protocol;
#[cfg(target_arch = "wasm32")]
mod render;
pub mod url_state;
#[cfg(target_arch = "wasm32")]
pub mod worker;

#[cfg(target_arch = "wasm32")]
pub use page::start;

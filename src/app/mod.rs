//! The web page (wasm32 only): a Yew front end (`page`) and an inference Web Worker (`worker`)
//! that runs the model, talking through `protocol` messages. The page binary is
//! src/bin/app.rs, the worker binary src/bin/worker.rs; trunk builds both (index.html).
pub mod backend;
mod bridge;
mod export;
mod fetch;
mod page;
mod panic;
pub mod protocol;
mod render;
mod url_state;
pub mod worker;

pub use page::start;

//! GAttANet Explorer: CNNs with global attention agreement (GAttANet) and attention-based
//! aggregation (PatchConvNet), one inspection API shared by the CLI, the page and the GPU engine.
pub mod error;
pub mod explain;
pub mod gpu;
pub mod inspect;
pub mod kernels;
pub mod model;
pub mod preprocess;
pub mod viz;

pub use error::{Error, Result};
pub use inspect::{inspect, Aggregation, InspectOptions, Inspection, LayerKind, LayerMaps, Pass, TopClass};
pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;

//! Views of an [`Inspection`](crate::inspect::Inspection): pure functions of the data and
//! view options, for the page (wasm32: images and SVG) and the CLI (native: also PNG).
pub mod charts;
pub mod colormap;
pub mod maps;
pub mod normalize;
pub mod raster;

pub use charts::*;
pub use colormap::ColorMap;
pub use maps::{agreement_image, attention_image, MapView};
pub use normalize::{agreement_range, attention_range, cosine, global_query_range, Normalization, Range};
pub use raster::{encode_png, heatmap, legend, overlay, resample, saliency_over, value_at, Interp};

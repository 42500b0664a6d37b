//! Any bytes as model.safetensors for a fixed small config: refused with an error naming the
//! tensor, or a model that runs and gives finite numbers or a clear error.
#![no_main]
use gattanet::model::{io, ModelConfig};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{
  "name": "fuzz", "classes": ["a", "b"],
  "input": {"size": [8, 8], "channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
  "backbone": {"kind": "resnet", "depth": 8, "width": 2},
  "head": {"kind": "avg_linear"},
  "attention": {"dim": 2, "passes": 2}
}"#;

fuzz_target!(|data: &[u8]| {
    let cfg = ModelConfig::from_json(CONFIG).expect("the fixed config is valid");
    if let Ok(model) = io::from_bytes(&cfg, data, &candle_core::Device::Cpu) {
        let x = vec![0.1f32; 3 * 8 * 8];
        let _ = gattanet::inspect(&model, &x, &Default::default());
    }
});

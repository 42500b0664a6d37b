#![cfg(target_arch = "wasm32")]
//! The WebGPU engine in a real browser: headless Chromium's WebGPU (SwiftShader, a fallback
//! adapter) against the candle path compiled to wasm, on the same weights and input.
//! Run: `cargo test --target wasm32-unknown-unknown --test web_gpu` (webdriver.json gives Chromium
//! `--enable-unsafe-webgpu`; without it there is no adapter and the test fails).
mod common;

use candle_core::Device;
use gattanet::gpu::{Backend, DeviceOptions, Engine, Preference};
use gattanet::model::io;
use gattanet::{inspect, InspectOptions};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[wasm_bindgen_test]
async fn webgpu_matches_candle_in_the_browser() {
    let cfg = common::small_configs().into_iter().find(|c| c.name == "patchconv").unwrap();
    let (_, varmap) = io::init(&cfg, &Device::Cpu).unwrap();
    let bytes = io::to_safetensors(&io::varmap_tensors(&varmap), io::Storage::F32).unwrap();
    let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    let [h, w] = cfg.input.size;
    let x: Vec<f32> = (0..3 * h * w).map(|i| ((i * 7919) % 97) as f32 / 48.0 - 1.0).collect();

    let engine = Engine::new(&cfg, &bytes, &DeviceOptions { allow_software: true, ..Default::default() })
        .await
        .expect("a WebGPU adapter (Chromium needs --enable-unsafe-webgpu, see webdriver.json)");
    // SwiftShader is a fallback adapter: Auto keeps the CPU and says why
    let auto = Backend::load(&cfg, &bytes, Preference::Auto).await.unwrap();
    if engine.adapter().software {
        assert!(!auto.is_gpu(), "{}", auto.describe());
        assert!(auto.describe().contains("software"), "{}", auto.describe());
    }
    let opts = InspectOptions { passes: Some(2), ..Default::default() };
    let g = engine.inspect(&x, &opts).await.unwrap();
    let c = inspect(&model, &x, &opts).unwrap();
    assert_eq!(g.passes.len(), c.passes.len());
    for (gp, cp) in g.passes.iter().zip(&c.passes) {
        let e = max_rel(&gp.logits, &cp.logits);
        assert!(e < 1e-4, "pass {} logits: {e:e}", gp.index);
        for (gl, cl) in gp.layers.iter().zip(&cp.layers) {
            let e = max_rel(&gl.agreement, &cl.agreement);
            assert!(e < 1e-4, "pass {} {} agreement: {e:e}", gp.index, gl.name);
        }
        let (ga, ca) = (gp.aggregation.as_ref().unwrap(), cp.aggregation.as_ref().unwrap());
        for (a, b) in ga.weights.iter().zip(&ca.weights) {
            assert!(max_rel(a, b) < 1e-4, "attention weights");
        }
    }
}

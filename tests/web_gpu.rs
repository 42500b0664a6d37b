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

/// Equal lengths and max |a − b| / max |b| below 1e-4.
fn close(what: &str, gpu: &[f32], cpu: &[f32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    let scale = cpu.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let e = gpu.iter().zip(cpu).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
    assert!(e < 1e-4, "{what}: {e:e}");
}

#[wasm_bindgen_test]
async fn webgpu_matches_candle_in_the_browser() {
    let cfg = common::small_configs().into_iter().find(|c| c.name == "patchconv").unwrap();
    // Random weights with α ≠ 0, so that the second pass is really modulated.
    let bytes = common::weights(&cfg, 3);
    let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    let x = common::random_input(&cfg, 3);

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
    assert_eq!(g.passes.len(), 2);
    assert_eq!(c.passes.len(), 2);
    assert!(c.passes[1].layers.iter().any(|l| l.gain.iter().any(|&v| (v - 1.0).abs() > 1e-3)), "pass 1 is not modulated");
    for (gp, cp) in g.passes.iter().zip(&c.passes) {
        let p = gp.index;
        close(&format!("pass {p} logits"), &gp.logits, &cp.logits);
        close(&format!("pass {p} probabilities"), &gp.probabilities, &cp.probabilities);
        close(&format!("pass {p} global query"), &gp.global_query, &cp.global_query);
        assert_eq!(gp.layers.len(), cp.layers.len(), "pass {p}: layer count");
        assert!(!cp.layers.is_empty());
        for (gl, cl) in gp.layers.iter().zip(&cp.layers) {
            assert_eq!((&gl.name, &gl.shape), (&cl.name, &cl.shape));
            close(&format!("pass {p} {} agreement", gl.name), &gl.agreement, &cl.agreement);
            close(&format!("pass {p} {} gain", gl.name), &gl.gain, &cl.gain);
        }
        let (ga, ca) = (gp.aggregation.as_ref().unwrap(), cp.aggregation.as_ref().unwrap());
        assert_eq!((ga.heads, ga.grid, ga.weights.len()), (ca.heads, ca.grid, ca.weights.len()));
        close(&format!("pass {p} class token self-weight"), &ga.self_weight, &ca.self_weight);
        for (h, (a, b)) in ga.weights.iter().zip(&ca.weights).enumerate() {
            close(&format!("pass {p} head {h} attention"), a, b);
        }
    }
}

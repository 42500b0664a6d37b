#![cfg(not(target_arch = "wasm32"))]
//! WebGPU engine vs the candle CPU path, natively on Mesa lavapipe (a Vulkan software adapter).
//!
//! Needs a Vulkan driver: `apt-get install mesa-vulkan-drivers` (lavapipe). Without one these
//! tests FAIL (they do not skip): the engine would otherwise go untested in CI.
//! `WGPU_BACKEND=gl` (or any other value) picks the backend from the environment instead of Vulkan.
mod common;

use std::cell::RefCell;

use candle_core::Device;
use common::{random_input, weights};
use gattanet::gpu::{Backend, DeviceOptions, Engine, GpuError, Preference};
use gattanet::model::{io, AttentionConfig, BackboneConfig, HeadConfig, ModelConfig, QueryPooling};
use gattanet::{inspect, InspectOptions, Inspection};

/// Largest error allowed, relative to the largest magnitude of the vector compared.
const TOL: f32 = 1e-4;

thread_local! {
    /// Max relative error seen per quantity in this test (each test has its own thread).
    static WORST: RefCell<Vec<(String, f32)>> = const { RefCell::new(Vec::new()) };
}

fn device_options() -> DeviceOptions {
    DeviceOptions {
        // The software adapter on purpose: lavapipe is what CI has.
        allow_software: true,
        backends: if std::env::var_os("WGPU_BACKEND").is_some() { None } else { Some(wgpu::Backends::VULKAN) },
        ..Default::default()
    }
}

fn engine(cfg: &ModelConfig, bytes: &[u8]) -> Engine {
    match pollster::block_on(Engine::new(cfg, bytes, &device_options())) {
        Ok(e) => e,
        Err(e @ (GpuError::NoAdapter(_) | GpuError::RequestDevice(_))) => panic!(
            "no usable Vulkan adapter for the GPU tests: {e}\n\
             install Mesa's lavapipe: `apt-get install -y mesa-vulkan-drivers` (or set WGPU_BACKEND)"
        ),
        Err(e) => panic!("engine for `{}` failed to load: {e}", cfg.name),
    }
}

fn rel_err(what: &str, gpu: &[f32], cpu: &[f32]) -> f32 {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    let scale = cpu.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let err = gpu.iter().zip(cpu).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    assert!(err.is_finite() && gpu.iter().all(|v| v.is_finite()), "{what}: non-finite values\n gpu {gpu:?}\n cpu {cpu:?}");
    let kind = what.rsplit(':').next().unwrap_or(what).trim().to_string();
    WORST.with_borrow_mut(|worst| match worst.iter_mut().find(|(k, _)| *k == kind) {
        Some(w) => w.1 = w.1.max(err),
        None => worst.push((kind, err)),
    });
    err
}

fn check(what: &str, gpu: &[f32], cpu: &[f32]) {
    let err = rel_err(what, gpu, cpu);
    assert!(err <= TOL, "{what}: relative error {err:.3e} > {TOL:e}\n gpu {gpu:?}\n cpu {cpu:?}");
}

fn compare(label: &str, gpu: &Inspection, cpu: &Inspection) {
    assert_eq!(gpu.model, cpu.model);
    assert_eq!(gpu.classes, cpu.classes);
    assert_eq!(gpu.input_size, cpu.input_size);
    assert_eq!(gpu.options, cpu.options, "{label}: options");
    assert_eq!(gpu.alphas, cpu.alphas, "{label}: alphas");
    assert_eq!(gpu.passes.len(), cpu.passes.len(), "{label}: pass count");
    for (g, c) in gpu.passes.iter().zip(&cpu.passes) {
        let t = g.index;
        assert_eq!(g.index, c.index);
        check(&format!("{label} pass {t}: logits"), &g.logits, &c.logits);
        check(&format!("{label} pass {t}: probabilities"), &g.probabilities, &c.probabilities);
        check(&format!("{label} pass {t}: global_query"), &g.global_query, &c.global_query);
        assert_eq!(g.top.len(), c.top.len());
        // top-1 must agree unless the two best classes are within the tolerance
        if c.top.len() > 1 && c.top[0].p - c.top[1].p > 1e-4 {
            assert_eq!(g.top[0].index, c.top[0].index, "{label} pass {t}: top-1");
        }
        assert_eq!(g.layers.len(), c.layers.len(), "{label} pass {t}: layer count");
        for (gl, cl) in g.layers.iter().zip(&c.layers) {
            assert_eq!((&gl.name, gl.kind, &gl.shape), (&cl.name, cl.kind, &cl.shape));
            check(&format!("{label} pass {t} {}: agreement", gl.name), &gl.agreement, &cl.agreement);
            check(&format!("{label} pass {t} {}: gain", gl.name), &gl.gain, &cl.gain);
        }
        match (&g.aggregation, &c.aggregation) {
            (None, None) => {}
            (Some(ga), Some(ca)) => {
                assert_eq!((ga.heads, ga.grid, ga.weights.len()), (ca.heads, ca.grid, ca.weights.len()));
                check(&format!("{label} pass {t}: self_weight"), &ga.self_weight, &ca.self_weight);
                for (h, (gw, cw)) in ga.weights.iter().zip(&ca.weights).enumerate() {
                    check(&format!("{label} pass {t} head {h}: attention"), gw, cw);
                }
            }
            _ => panic!("{label} pass {t}: aggregation present on one side only"),
        }
    }
}

/// Engine vs candle for one config over T = 1..3, attention on/off and α overrides.
fn parity(cfg: &ModelConfig, seed: u64) {
    let bytes = weights(cfg, seed);
    let model = io::from_bytes(cfg, &bytes, &Device::Cpu).unwrap();
    let gpu = engine(cfg, &bytes);
    let x = random_input(cfg, seed);
    let mut runs = vec![("default".to_string(), InspectOptions::default())];
    for t in 1..=3 {
        runs.push((format!("T={t}"), InspectOptions { passes: Some(t), ..Default::default() }));
    }
    runs.push(("no attention".into(), InspectOptions { attention: false, ..Default::default() }));
    runs.push(("alpha x2, T=3".into(), InspectOptions { passes: Some(3), alpha_scale: 2.0, top_k: 2, ..Default::default() }));
    if let Some(site) = model.attended_sites().first() {
        runs.push((
            format!("alpha {}=0.7", site.name),
            InspectOptions { alpha_overrides: vec![(site.name.clone(), 0.7)], ..Default::default() },
        ));
    }
    for (what, opts) in runs {
        let c = inspect(&model, &x, &opts).unwrap();
        let g = pollster::block_on(gpu.inspect(&x, &opts)).unwrap_or_else(|e| panic!("{} {what}: {e}", cfg.name));
        compare(&format!("{} [{what}]", cfg.name), &g, &c);
    }
}

fn report(test: &str) {
    let line: Vec<String> = WORST.with_borrow(|w| w.iter().map(|(k, e)| format!("{k} {e:.1e}")).collect());
    println!("{test}: max relative error: {}", line.join(", "));
}

fn without_attention(mut cfg: ModelConfig) -> ModelConfig {
    cfg.name.push_str("-plain");
    cfg.attention = None;
    cfg
}

fn config(name: &str) -> ModelConfig {
    common::small_configs().into_iter().find(|c| c.name == name).unwrap()
}

#[test]
fn adapter_is_available() {
    let summary = pollster::block_on(gattanet::gpu::probe_adapter(&device_options()))
        .unwrap_or_else(|e| panic!("no Vulkan adapter: {e}\ninstall Mesa's lavapipe: `apt-get install -y mesa-vulkan-drivers`"));
    println!("adapter: {summary} software={} timestamps={}", summary.software, summary.timestamps);
}

#[test]
fn parity_toy() {
    parity(&config("toy"), 1);
    parity(&without_attention(config("toy")), 2);
    // flat pooling, bounded gain, scaled agreement, T = 3 configured
    let mut cfg = config("toy");
    cfg.name = "toy-flat-bounded".into();
    cfg.input.size = [11, 13];
    cfg.attention = Some(AttentionConfig {
        dim: 5,
        passes: 3,
        pooling: QueryPooling::Flat,
        bounded: true,
        scale_by_sqrt_d: true,
        ..Default::default()
    });
    parity(&cfg, 3);
    report("toy");
}

#[test]
fn parity_resnet() {
    parity(&config("resnet"), 4);
    parity(&without_attention(config("resnet")), 5);
    let mut cfg = config("resnet");
    cfg.name = "resnet14-flat".into();
    cfg.backbone = BackboneConfig::Resnet { depth: 14, width: 3 };
    cfg.input.size = [9, 9];
    cfg.attention = Some(AttentionConfig { dim: 4, passes: 3, pooling: QueryPooling::Flat, bounded: true, ..Default::default() });
    parity(&cfg, 6);
    report("resnet");
}

#[test]
fn parity_patchconv() {
    parity(&config("patchconv"), 7);
    parity(&without_attention(config("patchconv")), 8);
    // stride-1 stem, mlp head (fc1 site), bounded
    let mut cfg = config("patchconv");
    cfg.name = "patchconv-s1-mlp".into();
    cfg.input.size = [6, 6];
    cfg.backbone = BackboneConfig::Patchconv { dim: 8, depth: 1, stem_stride: 1, init_scale: 0.5, se_ratio: 0.25 };
    cfg.head = HeadConfig::Mlp { hidden: 6 };
    cfg.attention = Some(AttentionConfig { dim: 4, passes: 2, bounded: true, scale_by_sqrt_d: true, ..Default::default() });
    parity(&cfg, 9);
    // stride-8 stem (three strided convs), avg_linear head, flat pooling
    let mut cfg = config("patchconv");
    cfg.name = "patchconv-s8-avg".into();
    cfg.backbone = BackboneConfig::Patchconv { dim: 12, depth: 2, stem_stride: 8, init_scale: 0.5, se_ratio: 0.25 };
    cfg.head = HeadConfig::AvgLinear;
    cfg.attention = Some(AttentionConfig { dim: 4, passes: 2, pooling: QueryPooling::Flat, ..Default::default() });
    parity(&cfg, 10);
    report("patchconv");
}

#[test]
fn parity_conv_groups() {
    parity(&config("conv-groups"), 21);
    parity(&without_attention(config("conv-groups")), 22);
    // odd sizes (the 2x2 pools drop an edge), no residual blocks, three groups, avg_linear head,
    // flat pooling, bounded gain, T = 3
    let mut cfg = config("conv-groups");
    cfg.name = "conv-groups-odd".into();
    cfg.input.size = [13, 11];
    cfg.backbone = BackboneConfig::ConvGroups { whitening: 2, widths: vec![4, 6, 5], blocks: 0 };
    cfg.head = HeadConfig::AvgLinear;
    cfg.attention = Some(AttentionConfig { dim: 3, passes: 3, pooling: QueryPooling::Flat, bounded: true, ..Default::default() });
    parity(&cfg, 23);
    report("conv-groups");
}

#[test]
fn parity_imagenet_resnet() {
    // basic blocks at an odd size (stem, padded max-pool and strides round down)
    parity(&config("imagenet-resnet18"), 31);
    parity(&without_attention(config("imagenet-resnet18")), 32);
    // bottlenecks, class attention, non-square input, flat pooling, T = 3
    let mut cfg = config("imagenet-resnet50");
    cfg.input.size = [27, 35];
    cfg.attention = Some(AttentionConfig { dim: 3, passes: 3, pooling: QueryPooling::Flat, bounded: true, ..Default::default() });
    parity(&cfg, 33);
    report("imagenet resnet");
}

#[test]
fn parity_class_attention_heads() {
    // ResNet trunk with class attention on a subset of layers, T = 3 configured
    parity(&config("resnet-ca"), 11);
    parity(&without_attention(config("resnet-ca")), 12);
    // four heads over a 4x4 grid
    let mut cfg = config("patchconv");
    cfg.name = "patchconv-4heads".into();
    cfg.head = HeadConfig::ClassAttention { heads: 4, mlp_ratio: 3, init_scale: 0.5 };
    parity(&cfg, 13);
    report("class attention");
}

#[test]
fn f16_weights_match_the_cpu_path() {
    let cfg = config("toy");
    let f32_bytes = weights(&cfg, 21);
    let bytes = io::to_safetensors(&io::tensors_from_bytes(&cfg, &f32_bytes, &Device::Cpu).unwrap(), io::Storage::F16).unwrap();
    let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    let gpu = engine(&cfg, &bytes);
    let x = random_input(&cfg, 99);
    let opts = InspectOptions::default();
    compare("toy f16", &pollster::block_on(gpu.inspect(&x, &opts)).unwrap(), &inspect(&model, &x, &opts).unwrap());
}

#[test]
fn bad_inputs_and_options_are_errors() {
    let cfg = config("toy");
    let bytes = weights(&cfg, 14);
    let gpu = engine(&cfg, &bytes);
    let x = random_input(&cfg, 99);
    let err = pollster::block_on(gpu.inspect(&x[1..], &InspectOptions::default())).unwrap_err();
    assert!(matches!(err, GpuError::Model(gattanet::Error::Image(_))), "{err}");
    let err = pollster::block_on(gpu.inspect(&x, &InspectOptions { passes: Some(0), ..Default::default() })).unwrap_err();
    assert!(err.to_string().contains("passes"), "{err}");
    let err = pollster::block_on(gpu.inspect(&x, &InspectOptions { alpha_overrides: vec![("nope".into(), 1.0)], ..Default::default() }))
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    // A non-finite α would turn every probability into NaN: refused, as on the CPU.
    let layer = config("toy").attention_sites()[0].name.clone();
    let nan = InspectOptions { alpha_overrides: vec![(layer.clone(), f32::NAN)], ..Default::default() };
    let err = pollster::block_on(gpu.inspect(&x, &nan)).unwrap_err();
    assert!(err.to_string().contains(&layer) && err.to_string().contains("finite"), "{err}");
    let model = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap();
    assert_eq!(inspect(&model, &x, &nan).unwrap_err().to_string(), err.to_string());
    // the engine still works afterwards
    pollster::block_on(gpu.inspect(&x, &InspectOptions::default())).unwrap();
}

#[test]
fn weights_are_checked_like_the_cpu_loader() {
    let cfg = config("resnet");
    let other = config("toy");
    let bytes = weights(&other, 15);
    let err = pollster::block_on(Engine::new(&cfg, &bytes, &device_options())).unwrap_err();
    let cpu = io::from_bytes(&cfg, &bytes, &Device::Cpu).unwrap_err();
    assert_eq!(err.to_string(), cpu.to_string());
    let err = pollster::block_on(Engine::new(&cfg, b"not safetensors", &device_options())).unwrap_err();
    assert!(err.to_string().contains("safetensors"), "{err}");
}

#[test]
fn no_adapter_is_a_typed_error_and_auto_falls_back_to_cpu() {
    let cfg = config("toy");
    let bytes = weights(&cfg, 16);
    // a backend mask with no adapter on this platform
    let none = if cfg!(target_os = "macos") { wgpu::Backends::DX12 } else { wgpu::Backends::METAL };
    let opts = DeviceOptions { backends: Some(none), allow_software: true, ..Default::default() };
    let err = pollster::block_on(Engine::new(&cfg, &bytes, &opts)).unwrap_err();
    assert!(matches!(err, GpuError::NoAdapter(_)), "{err}");
    let backend = pollster::block_on(Backend::load_with(&cfg, &bytes, Preference::Auto, opts.clone())).unwrap();
    match &backend {
        Backend::Cpu { reason, .. } => assert!(reason.contains("no WebGPU adapter"), "{reason}"),
        Backend::Gpu(_) => panic!("no adapter, yet a GPU backend"),
    }
    // the CPU fallback still answers
    let x = random_input(&cfg, 99);
    let a = pollster::block_on(backend.inspect(&x, &InspectOptions::default())).unwrap();
    assert_eq!(a.passes.len(), 2);
    // forcing the GPU returns the error instead
    let err = pollster::block_on(Backend::load_with(&cfg, &bytes, Preference::WebGpu, opts)).unwrap_err();
    assert!(matches!(err, GpuError::NoAdapter(_)), "{err}");
}

#[test]
fn software_adapter_is_refused_by_auto_and_accepted_when_forced() {
    let cfg = config("toy");
    let bytes = weights(&cfg, 17);
    let probe = DeviceOptions { allow_software: false, ..device_options() };
    let summary = pollster::block_on(gattanet::gpu::probe_adapter(&probe)).expect("a Vulkan adapter (mesa-vulkan-drivers)");
    let auto = pollster::block_on(Backend::load_with(&cfg, &bytes, Preference::Auto, probe.clone())).unwrap();
    if summary.software {
        match &auto {
            Backend::Cpu { reason, .. } => assert!(reason.contains("software"), "{reason}"),
            Backend::Gpu(_) => panic!("software adapter {summary} used by Auto"),
        }
        let err = pollster::block_on(Engine::new(&cfg, &bytes, &probe)).unwrap_err();
        assert!(matches!(err, GpuError::SoftwareAdapter(_)), "{err}");
    } else {
        assert!(auto.is_gpu(), "{}", auto.describe());
    }
    let forced = pollster::block_on(Backend::load_with(&cfg, &bytes, Preference::WebGpu, probe)).unwrap();
    assert!(forced.is_gpu());
    println!("{}", forced.describe());
    let cpu = pollster::block_on(Backend::load(&cfg, &bytes, Preference::Cpu)).unwrap();
    assert!(!cpu.is_gpu() && cpu.describe().contains("CPU"));
}

#[test]
fn buffers_over_the_device_limits_are_typed_errors() {
    let cfg = config("toy");
    let bytes = weights(&cfg, 18);
    // a device whose storage bindings hold 256 bytes: the first weight tensor does not fit
    let tiny = wgpu::Limits { max_storage_buffer_binding_size: 256, ..wgpu::Limits::default() };
    let opts = DeviceOptions { limits: Some(tiny), ..device_options() };
    match pollster::block_on(Engine::new(&cfg, &bytes, &opts)) {
        Err(GpuError::LimitsExceeded { what, needed, limit }) => {
            assert_eq!(limit, 256);
            assert!(needed > 256 && what.contains("storage"), "{what} {needed}");
        }
        other => panic!("expected LimitsExceeded, got {other:?}"),
    }
    // the same through Auto: the CPU takes over and says why
    let backend = pollster::block_on(Backend::load_with(
        &cfg,
        &bytes,
        Preference::Auto,
        DeviceOptions {
            limits: Some(wgpu::Limits { max_storage_buffer_binding_size: 256, ..wgpu::Limits::default() }),
            ..device_options()
        },
    ))
    .unwrap();
    if let Backend::Cpu { reason, .. } = &backend {
        assert!(reason.contains("allows at most 256"), "{reason}");
    } else {
        panic!("tiny limits, yet a GPU backend");
    }
    // limits beyond what the adapter offers
    let huge = wgpu::Limits { max_compute_workgroups_per_dimension: u32::MAX, ..wgpu::Limits::default() };
    let err = pollster::block_on(Engine::new(&cfg, &bytes, &DeviceOptions { limits: Some(huge), ..device_options() })).unwrap_err();
    assert!(matches!(err, GpuError::LimitsExceeded { .. }), "{err}");
}

#[test]
fn engine_reports_adapter_and_pipeline_count() {
    let cfg = config("patchconv");
    let gpu = engine(&cfg, &weights(&cfg, 19));
    // one pipeline per entry point, all created when the model loads
    assert_eq!(gpu.pipeline_count(), gattanet::gpu::Kernel::ALL.len());
    assert!(!gpu.adapter().name.is_empty(), "{}", gpu.adapter());
    assert!(gpu.launches_per_pass() > 0);
    assert!(gpu.lost().is_none());
    println!("{} launches per pass on {}", gpu.launches_per_pass(), gpu.adapter());
}

#[test]
fn a_lost_device_is_reported_and_the_engine_can_be_recreated() {
    let cfg = config("resnet");
    let bytes = weights(&cfg, 20);
    let x = random_input(&cfg, 20);
    let gpu = engine(&cfg, &bytes);
    let before = pollster::block_on(gpu.inspect(&x, &InspectOptions::default())).unwrap();
    gpu.destroy_device();
    let err = pollster::block_on(gpu.inspect(&x, &InspectOptions::default())).unwrap_err();
    assert!(err.is_device_lost(), "{err}");
    assert!(gpu.lost().is_some());
    // a fresh engine works again and gives the same result
    let again = engine(&cfg, &bytes);
    let after = pollster::block_on(again.inspect(&x, &InspectOptions::default())).unwrap();
    assert_eq!(before, after);
}

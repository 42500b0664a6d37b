//! Adapter and device: request them, classify the adapter (hardware or software), request the
//! limits the engine needs, and watch for uncaptured errors and device loss.
use std::sync::{Arc, Mutex};

use super::error::GpuError;

/// How to find an adapter and open a device.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Backends to search; None: the platform default (`WGPU_BACKEND` honoured natively).
    pub backends: Option<wgpu::Backends>,
    /// Accept a software adapter (lavapipe, SwiftShader: `DeviceType::Cpu`). The automatic
    /// backend choice refuses them (they are slower than candle); tests force them.
    pub allow_software: bool,
    /// Ask for the fallback adapter only.
    pub force_fallback_adapter: bool,
    pub power_preference: wgpu::PowerPreference,
    /// Limits to request instead of the engine's default (the adapter's buffer sizes on top of
    /// the WebGPU defaults). Tests request tiny limits to exercise `LimitsExceeded`.
    pub limits: Option<wgpu::Limits>,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            backends: None,
            allow_software: false,
            force_fallback_adapter: false,
            power_preference: wgpu::PowerPreference::HighPerformance,
            limits: None,
        }
    }
}

/// What the adapter is, for the page ("running on …") and the bench output.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// `DeviceType::Cpu` (lavapipe, SwiftShader, WARP; `isFallbackAdapter` on the web).
    pub software: bool,
    pub timestamps: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.name.is_empty() { "unnamed adapter" } else { &self.name };
        write!(f, "{name} ({}, {}", self.backend, self.device_type)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(f, ")")
    }
}

/// Errors the device reported outside any error scope, and whether it was lost.
#[derive(Debug, Default)]
pub(crate) struct ErrorState {
    pub lost: Option<String>,
    pub uncaptured: Option<String>,
}

pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    pub adapter: AdapterSummary,
    pub errors: Arc<Mutex<ErrorState>>,
}

pub(crate) fn summarize(info: &wgpu::AdapterInfo, features: wgpu::Features) -> AdapterSummary {
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: [info.driver.as_str(), info.driver_info.as_str()].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" "),
        software: info.device_type == wgpu::DeviceType::Cpu,
        timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
    }
}

/// Find an adapter without opening a device (for the backend choice and the page's report).
pub async fn probe_adapter(opts: &DeviceOptions) -> Result<AdapterSummary, GpuError> {
    let adapter = request_adapter(opts).await?;
    Ok(summarize(&adapter.get_info(), adapter.features()))
}

async fn request_adapter(opts: &DeviceOptions) -> Result<wgpu::Adapter, GpuError> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(b) = opts.backends {
        desc.backends = b;
    }
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: opts.power_preference,
            force_fallback_adapter: opts.force_fallback_adapter,
            compatible_surface: None,
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::NoAdapter(format!("{e} (backends searched: {backends:?})")))?;
    Ok(adapter)
}

/// The limits the engine asks for: the WebGPU defaults (or the adapter's, where it offers less:
/// downlevel adapters), with the adapter's full buffer sizes and dispatch size on top.
fn wanted_limits(adapter: &wgpu::Limits) -> wgpu::Limits {
    let base = wgpu::Limits::default();
    let mut l = if base.check_limits(adapter) { base } else { wgpu::Limits::downlevel_defaults() };
    if !l.check_limits(adapter) {
        l = adapter.clone();
    }
    l.max_buffer_size = l.max_buffer_size.max(adapter.max_buffer_size);
    l.max_storage_buffer_binding_size = l.max_storage_buffer_binding_size.max(adapter.max_storage_buffer_binding_size);
    l.max_storage_buffers_per_shader_stage = l.max_storage_buffers_per_shader_stage.max(adapter.max_storage_buffers_per_shader_stage);
    l.max_compute_workgroups_per_dimension = l.max_compute_workgroups_per_dimension.max(adapter.max_compute_workgroups_per_dimension);
    l
}

pub(crate) async fn open(opts: &DeviceOptions) -> Result<Gpu, GpuError> {
    let adapter = request_adapter(opts).await?;
    let info = adapter.get_info();
    let summary = summarize(&info, adapter.features());
    if summary.software && !opts.allow_software {
        return Err(GpuError::SoftwareAdapter(summary.to_string()));
    }
    let adapter_limits = adapter.limits();
    let limits = match &opts.limits {
        Some(l) => {
            // request_device panics on limits the adapter lacks: check first, report typed.
            let mut bad = None;
            l.check_limits_with_fail_fn(&adapter_limits, true, |name, want, allowed| bad = Some((name, want, allowed)));
            if let Some((name, want, allowed)) = bad {
                return Err(GpuError::limit(format!("requested device limit {name}"), want, allowed));
            }
            l.clone()
        }
        None => wanted_limits(&adapter_limits),
    };
    let features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("gattanet"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::RequestDevice(e.to_string()))?;

    let errors = Arc::new(Mutex::new(ErrorState::default()));
    {
        let errors = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = errors.lock() {
                s.uncaptured.get_or_insert_with(|| e.to_string());
            }
        }));
    }
    {
        let errors = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut s) = errors.lock() {
                s.lost.get_or_insert_with(|| format!("{reason:?}: {msg}"));
            }
        });
    }
    let limits = device.limits();
    let mut summary = summary;
    summary.timestamps = device.features().contains(wgpu::Features::TIMESTAMP_QUERY);
    Ok(Gpu { device, queue, limits, adapter: summary, errors })
}

impl Gpu {
    /// A lost device, or the first error reported outside an error scope since the last check
    /// (which it clears), as a typed error.
    pub(crate) fn check(&self) -> Result<(), GpuError> {
        self.check_lost()?;
        let mut s = self.errors.lock().map_err(|_| GpuError::DeviceLost("error state poisoned".into()))?;
        match s.uncaptured.take() {
            Some(u) => Err(GpuError::Validation(u)),
            None => Ok(()),
        }
    }

    pub(crate) fn check_lost(&self) -> Result<(), GpuError> {
        let s = self.errors.lock().map_err(|_| GpuError::DeviceLost("error state poisoned".into()))?;
        match &s.lost {
            Some(l) => Err(GpuError::DeviceLost(l.clone())),
            None => Ok(()),
        }
    }
}

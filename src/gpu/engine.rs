//! The WebGPU executor: buffers and pipelines created once at load, every pass of an inspection
//! recorded into one command encoder and submitted once, and only what the `Inspection` needs
//! read back, asynchronously (`map_async` + a oneshot channel: polled natively, awaited on the web).
use std::collections::BTreeMap;

use super::device::{self, AdapterSummary, DeviceOptions, Gpu};
use super::error::GpuError;
use super::kernels::{Kernel, Pipelines};
use super::plan::{self, BufId, Launch, Plan, Sel};
use super::weights::Weights;
use crate::error::Error;
use crate::inspect::{Aggregation, InspectOptions, Inspection, LayerMaps, Pass};
use crate::model::ModelConfig;

/// Buffer id meaning "no buffer here" (an unused optional slot): bound to the dummy buffer.
pub(crate) const NONE: BufId = usize::MAX;

struct Bound {
    kernel: Kernel,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
    flops: u64,
    label: String,
}

/// Which launches a pass uses: its BatchNorm statistics set and whether the gains apply.
type VariantKey = (usize, bool);

fn variant_of(pass: usize, sets: usize) -> VariantKey {
    (pass.min(sets.saturating_sub(1)), pass > 0)
}

/// Time of one kernel launch, from GPU timestamps or wall time.
#[derive(Debug, Clone)]
pub struct KernelTiming {
    pub label: String,
    /// The entry point (kernel family).
    pub kernel: &'static str,
    pub flops: u64,
    pub seconds: f64,
}

/// How `profile` measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingSource {
    /// GPU timestamp queries, one compute pass per kernel.
    Timestamps,
    /// Wall time around submit → completion of each kernel alone.
    WallClock,
}

pub struct Engine {
    gpu: Gpu,
    pipelines: Pipelines,
    plan: Plan,
    config: ModelConfig,
    variants: BTreeMap<VariantKey, Vec<Bound>>,
    gatta: Vec<Bound>,
    /// Every launch's parameter block (the bind groups point into it).
    params: wgpu::Buffer,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("model", &self.config.name).field("adapter", &self.gpu.adapter).finish()
    }
}

impl Engine {
    /// Open a device as `opts` says and load a model (config + safetensors bytes) onto it.
    pub async fn new(config: &ModelConfig, safetensors: &[u8], opts: &DeviceOptions) -> Result<Engine, GpuError> {
        let weights = Weights::from_safetensors(config, safetensors)?;
        let gpu = device::open(opts).await?;
        Self::with_device(gpu, config, &weights).await
    }

    async fn with_device(gpu: Gpu, config: &ModelConfig, weights: &Weights) -> Result<Engine, GpuError> {
        let pipelines = Pipelines::create(&gpu.device, &gpu.limits).await?;
        let oom = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let built = Self::build(&gpu, &pipelines, config, weights);
        let (v, o) = (val.pop().await, oom.pop().await);
        let (plan, variants, gatta, params) = built?;
        if let Some(e) = o.or(v) {
            return Err(e.into());
        }
        gpu.check()?;
        Ok(Engine { gpu, pipelines, plan, config: config.clone(), variants, gatta, params })
    }

    #[allow(clippy::type_complexity)]
    fn build(
        gpu: &Gpu,
        pipelines: &Pipelines,
        config: &ModelConfig,
        weights: &Weights,
    ) -> Result<(Plan, BTreeMap<VariantKey, Vec<Bound>>, Vec<Bound>, wgpu::Buffer), GpuError> {
        let plan = plan::build(gpu, weights, config)?;
        let passes_possible = if config.attention.is_some() { 16 } else { 1 };
        let mut keys: Vec<VariantKey> = (0..passes_possible).map(|t| variant_of(t, plan.sets)).collect();
        keys.dedup();
        // Every launch of every variant gets its own 64-byte parameter block at an aligned offset.
        let align = (gpu.limits.min_uniform_buffer_offset_alignment as usize).max(64);
        let count = keys.len() * plan.forward.len() + plan.gatta.len();
        let size = (count.max(1) * align) as u64;
        if size > gpu.limits.max_buffer_size {
            return Err(GpuError::limit("parameter buffer", size, gpu.limits.max_buffer_size));
        }
        let mut bytes = vec![0u8; size as usize];
        let mut blocks: Vec<(VariantKey, usize, [u32; 16], Vec<BufId>)> = Vec::new();
        let resolve = |l: &Launch, key: Option<VariantKey>| -> ([u32; 16], Vec<BufId>) {
            let mut params = l.params;
            let bufs = l
                .bufs
                .iter()
                .map(|s| match s {
                    Sel::Fixed(id) => *id,
                    Sel::PerSet(ids) => ids[key.map_or(0, |k| k.0).min(ids.len() - 1)],
                    Sel::Gain(site) => match key {
                        Some((_, true)) => plan.sites[*site].gain,
                        _ => NONE,
                    },
                })
                .collect();
            if let (Some((idx, mode)), Some((_, true))) = (l.gain_param, key) {
                params[idx] = mode;
            }
            (params, bufs)
        };
        for &key in &keys {
            for (i, l) in plan.forward.iter().enumerate() {
                let (p, b) = resolve(l, Some(key));
                blocks.push((key, i, p, b));
            }
        }
        let mut gatta_blocks = Vec::new();
        for l in &plan.gatta {
            gatta_blocks.push(resolve(l, None));
        }
        for (n, p) in blocks.iter().map(|b| &b.2).chain(gatta_blocks.iter().map(|b| &b.0)).enumerate() {
            bytes[n * align..n * align + 64].copy_from_slice(bytemuck::cast_slice(p));
        }
        let params = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        gpu.queue.write_buffer(&params, 0, &bytes);
        let bind = |n: usize, l: &Launch, bufs: &[BufId]| -> Bound {
            let (_, layout) = pipelines.get(l.kernel);
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &params,
                    offset: (n * align) as u64,
                    size: wgpu::BufferSize::new(64),
                }),
            }];
            for (&(binding, _), &id) in l.kernel.slots().iter().zip(bufs) {
                let id = if id == NONE { plan.dummy } else { id };
                entries.push(wgpu::BindGroupEntry { binding, resource: plan.bufs[id].buffer.as_entire_binding() });
            }
            let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(&l.label), layout, entries: &entries });
            Bound { kernel: l.kernel, bind_group, groups: l.groups, flops: l.flops, label: l.label.clone() }
        };
        let mut variants: BTreeMap<VariantKey, Vec<Bound>> = BTreeMap::new();
        for (n, (key, i, _, bufs)) in blocks.iter().enumerate() {
            let b = bind(n, &plan.forward[*i], bufs);
            variants.entry(*key).or_default().push(b);
        }
        let gatta = gatta_blocks.iter().enumerate().map(|(j, (_, bufs))| bind(blocks.len() + j, &plan.gatta[j], bufs)).collect();
        Ok((plan, variants, gatta, params))
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.gpu.adapter
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.gpu.limits
    }

    /// Number of compute pipelines created at load.
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.pipelines.len()
    }

    /// Bytes of GPU memory in the engine's buffers: (weights, activations and scratch, launch
    /// parameters). All of it is allocated at load; inspecting allocates only readback buffers.
    pub fn memory(&self) -> (u64, u64, u64) {
        let sum = |w: bool| self.plan.bufs.iter().filter(|b| b.weights == w).map(|b| b.buffer.size()).sum::<u64>();
        (sum(true), sum(false), self.params.size())
    }

    /// Kernel launches per pass (forward + GAttANet stage).
    pub fn launches_per_pass(&self) -> usize {
        self.plan.forward.len() + self.plan.gatta.len()
    }

    /// Destroy the device (as a browser reclaiming the GPU would): later calls return
    /// `GpuError::DeviceLost`. For tests of the recovery path and for releasing GPU memory early.
    pub fn destroy_device(&self) {
        self.gpu.device.destroy();
    }

    /// The reason the device stopped working, if it did: recreate the engine then.
    pub fn lost(&self) -> Option<String> {
        self.gpu.errors.lock().ok().and_then(|s| s.lost.clone())
    }

    /// Run the passes on one preprocessed input (CHW, normalised, at the model's input size):
    /// the same `Inspection` as `crate::inspect` on the CPU.
    pub async fn inspect(&self, input_chw: &[f32], options: &InspectOptions) -> Result<Inspection, GpuError> {
        self.gpu.check_lost()?;
        let cfg = &self.config;
        let [h, w] = cfg.input.size;
        let expected = cfg.input.channels * h * w;
        if input_chw.len() != expected {
            return Err(Error::image(format!("input has {} values, the model expects {expected}", input_chw.len())).into());
        }
        let passes = crate::inspect::checked_passes(cfg, options)?;
        let sites: Vec<(&str, f32)> = self.plan.sites.iter().map(|s| (s.info.name.as_str(), s.learned_alpha)).collect();
        let alphas = crate::inspect::used_alphas(&sites, options)?;
        // Without GAttANet the model runs a single plain pass whatever `passes` says.
        let run = if cfg.attention.is_some() { passes } else { 1 };

        let layout = self.layout();
        let device = &self.gpu.device;
        let queue = &self.gpu.queue;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: (layout.stride * run * 4).max(16) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&self.plan.bufs[self.plan.input].buffer, 0, bytemuck::cast_slice(input_chw));
        if let Some(a) = self.plan.alpha {
            let used: Vec<f32> = alphas.iter().map(|a| a.used).collect();
            queue.write_buffer(&self.plan.bufs[a].buffer, 0, bytemuck::cast_slice(&used));
        }
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("inspect") });
        for t in 0..run {
            {
                let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("pass"), timestamp_writes: None });
                for b in self.variants[&variant_of(t, self.plan.sets)].iter().chain(&self.gatta) {
                    cp.set_pipeline(&self.pipelines.get(b.kernel).0);
                    cp.set_bind_group(0, &b.bind_group, &[]);
                    cp.dispatch_workgroups(b.groups[0], b.groups[1], b.groups[2]);
                }
            }
            let base = t * layout.stride;
            let copy = |enc: &mut wgpu::CommandEncoder, id: BufId, len: usize, off: usize| {
                if len > 0 {
                    enc.copy_buffer_to_buffer(&self.plan.bufs[id].buffer, 0, &readback, ((base + off) * 4) as u64, Some((len * 4) as u64));
                }
            };
            copy(&mut enc, self.plan.logits, self.plan.classes, layout.logits);
            copy(&mut enc, self.plan.probs, self.plan.classes, layout.probs);
            if let Some((q, d)) = self.plan.qbar {
                copy(&mut enc, q, d, layout.qbar);
            }
            for (l, s) in self.plan.sites.iter().enumerate() {
                copy(&mut enc, s.agree, s.n, layout.agree[l]);
                if t + 1 < run {
                    // the gains just computed drive pass t+1: store them in its slot
                    let next = layout.stride + layout.gain[l];
                    copy(&mut enc, s.gain, s.n, next);
                }
            }
            if let Some((a, heads, tok)) = self.plan.attention {
                copy(&mut enc, a, heads * tok, layout.attention);
            }
        }
        queue.submit([enc.finish()]);
        let (v, o) = (val.pop().await, oom.pop().await);
        if let Some(e) = o.or(v) {
            return Err(e.into());
        }
        let data = self.read(&readback).await?;
        self.gpu.check()?;

        let mut result = Vec::with_capacity(run);
        for t in 0..run {
            let base = t * layout.stride;
            let at = |off: usize, len: usize| data[base + off..base + off + len].to_vec();
            let logits = at(layout.logits, self.plan.classes);
            let probabilities = at(layout.probs, self.plan.classes);
            let layers = self
                .plan
                .sites
                .iter()
                .enumerate()
                .map(|(l, s)| {
                    let gain = if t == 0 { vec![1.0; s.n] } else { at(layout.gain[l], s.n) };
                    LayerMaps::new(&s.info, at(layout.agree[l], s.n), gain)
                })
                .collect();
            let aggregation = self.plan.attention.map(|(_, heads, tok)| {
                let rows = (0..heads).map(|hh| at(layout.attention + hh * tok, tok)).collect();
                Aggregation::from_rows(rows, self.plan.features)
            });
            let global_query = self.plan.qbar.map_or(Vec::new(), |(_, d)| at(layout.qbar, d));
            let pass = Pass::new(t, logits, probabilities, global_query, layers, aggregation);
            result.push(pass.with_top(&cfg.classes, options.top_k));
        }
        Ok(Inspection::new(cfg, options, passes, alphas, result)?)
    }

    /// Blocking `inspect` for native callers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn inspect_blocking(&self, input_chw: &[f32], options: &InspectOptions) -> Result<Inspection, GpuError> {
        pollster::block_on(self.inspect(input_chw, options))
    }

    fn layout(&self) -> Layout {
        let mut off = 0;
        let mut take = |n: usize| {
            let o = off;
            off += n;
            o
        };
        let logits = take(self.plan.classes);
        let probs = take(self.plan.classes);
        let qbar = take(self.plan.qbar.map_or(0, |q| q.1));
        let mut agree = Vec::new();
        let mut gain = Vec::new();
        for s in &self.plan.sites {
            agree.push(take(s.n));
            gain.push(take(s.n));
        }
        let attention = take(self.plan.attention.map_or(0, |(_, h, t)| h * t));
        Layout { logits, probs, qbar, agree, gain, attention, stride: off }
    }

    /// Map a MAP_READ buffer and copy it out: the callback fires on `poll` natively and from the
    /// browser's event loop on the web (where `poll` is a no-op and we just await).
    async fn read(&self, buffer: &wgpu::Buffer) -> Result<Vec<f32>, GpuError> {
        let slice = buffer.slice(..);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        if let Err(e) = self.gpu.device.poll(wgpu::PollType::wait_indefinitely()) {
            self.gpu.check_lost()?;
            return Err(GpuError::Readback(e.to_string()));
        }
        let mapped = rx.await.map_err(|_| GpuError::Readback("the map callback was dropped".into()))?;
        if let Err(e) = mapped {
            self.gpu.check_lost()?;
            return Err(GpuError::Readback(e.to_string()));
        }
        let view = slice.get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?;
        let out = bytemuck::cast_slice::<u8, f32>(&view).to_vec();
        drop(view);
        buffer.unmap();
        Ok(out)
    }

    /// Time every kernel of one modulated pass (pass 1's launches, or pass 0 without GAttANet),
    /// plus the GAttANet stage, after `warmup` untimed runs. Timestamps when the device has them.
    pub async fn profile(&self, input_chw: &[f32], warmup: usize) -> Result<(TimingSource, Vec<KernelTiming>), GpuError> {
        let opts = InspectOptions::default();
        for _ in 0..warmup {
            self.inspect(input_chw, &opts).await?;
        }
        let key = variant_of(if self.config.attention.is_some() { 1 } else { 0 }, self.plan.sets);
        let launches: Vec<&Bound> = self.variants[&key].iter().chain(&self.gatta).collect();
        if self.gpu.adapter.timestamps {
            return Ok((TimingSource::Timestamps, self.profile_timestamps(&launches).await?));
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            Ok((TimingSource::WallClock, self.profile_wall(&launches)?))
        }
        #[cfg(target_arch = "wasm32")]
        {
            Err(GpuError::Validation("per-kernel timing needs timestamp queries on the web".into()))
        }
    }

    async fn profile_timestamps(&self, launches: &[&Bound]) -> Result<Vec<KernelTiming>, GpuError> {
        let device = &self.gpu.device;
        let n = launches.len() as u32 * 2;
        let set =
            device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("timestamps"), ty: wgpu::QueryType::Timestamp, count: n });
        let resolve = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: n as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let read = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps-read"),
            size: n as u64 * 8,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profile") });
        for (i, b) in launches.iter().enumerate() {
            let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&b.label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &set,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            cp.set_pipeline(&self.pipelines.get(b.kernel).0);
            cp.set_bind_group(0, &b.bind_group, &[]);
            cp.dispatch_workgroups(b.groups[0], b.groups[1], b.groups[2]);
        }
        enc.resolve_query_set(&set, 0..n, &resolve, 0);
        enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, Some(n as u64 * 8));
        self.gpu.queue.submit([enc.finish()]);
        let raw = self.read(&read).await?;
        let ticks: &[u64] = bytemuck::cast_slice(&raw);
        let period = self.gpu.queue.get_timestamp_period() as f64 * 1e-9;
        Ok(launches
            .iter()
            .enumerate()
            .map(|(i, b)| KernelTiming {
                label: b.label.clone(),
                kernel: b.kernel.entry(),
                flops: b.flops,
                seconds: ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period,
            })
            .collect())
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn profile_wall(&self, launches: &[&Bound]) -> Result<Vec<KernelTiming>, GpuError> {
        let mut out = Vec::new();
        for b in launches {
            let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profile") });
            {
                let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&b.label), timestamp_writes: None });
                cp.set_pipeline(&self.pipelines.get(b.kernel).0);
                cp.set_bind_group(0, &b.bind_group, &[]);
                cp.dispatch_workgroups(b.groups[0], b.groups[1], b.groups[2]);
            }
            let start = std::time::Instant::now();
            self.gpu.queue.submit([enc.finish()]);
            self.gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
            out.push(KernelTiming {
                label: b.label.clone(),
                kernel: b.kernel.entry(),
                flops: b.flops,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
        Ok(out)
    }
}

/// Offsets (in f32) of one pass's results inside the readback buffer.
struct Layout {
    logits: usize,
    probs: usize,
    qbar: usize,
    agree: Vec<usize>,
    gain: Vec<usize>,
    attention: usize,
    stride: usize,
}

//! config + tensors → a plan: every buffer the model needs (weights uploaded once, BatchNorm folded
//! into the conv weights per statistics set) and the list of kernel launches of one pass.
//! Launches that differ between passes (which BatchNorm set, whether the GAttANet gains apply)
//! name their alternatives; the engine materialises one launch list per pass variant.
use super::device::Gpu;
use super::error::GpuError;
use super::kernels::Kernel;
use super::params::*;
use super::weights::Weights;
use crate::model::graph::{self, pool_out, Act, ConvSpec, Graph, Node, Op};
use crate::model::layers::BN_EPS;
use crate::model::{ModelConfig, QueryPooling, SiteInfo};

pub(crate) type BufId = usize;

/// A buffer slot of a launch: one buffer, or one per BatchNorm statistics set.
#[derive(Debug, Clone)]
pub(crate) enum Sel {
    Fixed(BufId),
    PerSet(Vec<BufId>),
    /// The gain buffer of attended layer `site` in modulated passes; the dummy otherwise.
    Gain(usize),
}

/// One kernel launch of a pass.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub kernel: Kernel,
    pub bufs: Vec<Sel>,
    /// The uniform block (`KernelParams::block`).
    pub params: [u32; 16],
    /// The word of `params` holding the gain mode, and the mode to use in modulated passes.
    pub gain_param: Option<(usize, u32)>,
    pub groups: [u32; 3],
    pub flops: u64,
    pub label: String,
}

pub(crate) struct BufInfo {
    pub buffer: wgpu::Buffer,
    /// Holds weights (written once at load) rather than activations or scratch.
    pub weights: bool,
}

/// An attended layer on the GPU.
pub(crate) struct SitePlan {
    pub info: SiteInfo,
    /// Number of map values: H·W (conv) or C (dense).
    pub n: usize,
    pub agree: BufId,
    pub gain: BufId,
    pub learned_alpha: f32,
}

pub(crate) struct Plan {
    pub bufs: Vec<BufInfo>,
    pub dummy: BufId,
    pub input: BufId,
    pub forward: Vec<Launch>,
    pub gatta: Vec<Launch>,
    pub logits: BufId,
    pub probs: BufId,
    pub classes: usize,
    pub sites: Vec<SitePlan>,
    pub qbar: Option<(BufId, usize)>,
    pub alpha: Option<BufId>,
    pub attention: Option<AttentionOut>,
    pub sets: usize,
    /// [C, H, W] of the backbone's output (the class-attention patch grid).
    pub features: [usize; 3],
}

/// Class-attention weights: (buffer, heads, tokens).
pub type AttentionOut = (BufId, usize, usize);

struct Builder<'a> {
    gpu: &'a Gpu,
    w: &'a Weights,
    graph: &'a Graph,
    sets: usize,
    bufs: Vec<BufInfo>,
    ops: Vec<Launch>,
    site_acts: Vec<Option<BufId>>,
    site_gains: Vec<BufId>,
    site_n: Vec<usize>,
}

/// A dense layer for `Builder::linear`: W as (n, k) row-major, and its epilogue.
struct Dense<'a> {
    weight: &'a [f32],
    k: usize,
    n: usize,
    bias: Option<&'a [f32]>,
    /// LayerScale γ, after the bias.
    scale: Option<&'a [f32]>,
    /// Added before the activation: (buffer, offset).
    res: Option<(BufId, usize)>,
    act: u32,
}

impl<'a> Dense<'a> {
    fn new(weight: &'a [f32], k: usize, n: usize) -> Self {
        Dense { weight, k, n, bias: None, scale: None, res: None, act: ACT_NONE }
    }
}

/// The m input rows of a linear layer: element (row, i) at off + row·m_stride + i·k_stride.
struct Rows {
    x: BufId,
    off: usize,
    m_stride: usize,
    k_stride: usize,
    m: usize,
}

impl Rows {
    /// One contiguous vector of k values.
    fn vector(x: BufId, k: usize) -> Self {
        Rows { x, off: 0, m_stride: k, k_stride: 1, m: 1 }
    }
}

fn groups(n: usize, per: usize) -> u32 {
    n.div_ceil(per).max(1) as u32
}

fn round4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Rows of length k padded with zeros to a multiple of 4 (vec4 loads in the GEMM and linear kernels).
fn pad_rows(w: &[f32], rows: usize, k: usize) -> Vec<f32> {
    let kp = round4(k);
    let mut out = vec![0.0; rows * kp];
    for r in 0..rows {
        out[r * kp..r * kp + k].copy_from_slice(&w[r * k..(r + 1) * k]);
    }
    out
}

impl<'a> Builder<'a> {
    fn alloc_raw(&mut self, name: &str, len: usize, weights: bool) -> Result<BufId, GpuError> {
        let bytes = (len.max(4) * 4).div_ceil(16) as u64 * 16;
        let l = &self.gpu.limits;
        if bytes > l.max_buffer_size {
            return Err(GpuError::limit(format!("buffer `{name}` ({len} floats)"), bytes, l.max_buffer_size));
        }
        if bytes > l.max_storage_buffer_binding_size {
            return Err(GpuError::limit(format!("storage binding of `{name}` ({len} floats)"), bytes, l.max_storage_buffer_binding_size));
        }
        let buffer = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.bufs.push(BufInfo { buffer, weights });
        Ok(self.bufs.len() - 1)
    }

    fn alloc(&mut self, name: &str, len: usize) -> Result<BufId, GpuError> {
        self.alloc_raw(name, len, false)
    }

    fn upload(&mut self, name: &str, data: &[f32]) -> Result<BufId, GpuError> {
        let id = self.alloc_raw(name, data.len(), true)?;
        let mut padded = data.to_vec();
        padded.resize((self.bufs[id].buffer.size() / 4) as usize, 0.0);
        self.gpu.queue.write_buffer(&self.bufs[id].buffer, 0, bytemuck_cast(&padded));
        Ok(id)
    }

    fn push(&mut self, launch: Launch) -> Result<(), GpuError> {
        let max = self.gpu.limits.max_compute_workgroups_per_dimension;
        if let Some(&g) = launch.groups.iter().find(|&&g| g > max) {
            return Err(GpuError::limit(format!("dispatch of `{}` (workgroups per dimension)", launch.label), g as u64, max as u64));
        }
        self.ops.push(launch);
        Ok(())
    }

    fn record_site(&mut self, site: Option<usize>, act: BufId) {
        if let Some(l) = site {
            self.site_acts[l] = Some(act);
        }
    }

    /// The gain buffer slot of a launch and, at a site, its gain-mode word and mode.
    fn gain_sel(site: Option<usize>, word: usize, mode: u32) -> (Sel, Option<(usize, u32)>) {
        match site {
            Some(l) => (Sel::Gain(l), Some((word, mode))),
            None => (Sel::Fixed(usize::MAX), None),
        }
    }

    /// Convolution + fused epilogue; a BatchNorm is folded into the weights (one folded copy
    /// per statistics set). `res`: the residual's buffer; `site`: the attended index, if any.
    fn conv(
        &mut self,
        label: &str,
        x: BufId,
        [cin, h, w]: [usize; 3],
        spec: &ConvSpec,
        res: Option<BufId>,
        site: Option<usize>,
    ) -> Result<(BufId, [usize; 3]), GpuError> {
        let (cout, k, stride) = (spec.cout, spec.k, spec.stride);
        let weight = &format!("{}.weight", spec.prefix);
        let bias = spec.bias.then(|| format!("{}.bias", spec.prefix));
        let (bn, scale) = (spec.bn.as_deref(), spec.scale.as_ref().map(|(name, _)| name.as_str()));
        let act = act_code(spec.act);
        let pad = k / 2;
        let hout = (h + 2 * pad - k) / stride + 1;
        let wout = (w + 2 * pad - k) / stride + 1;
        let kdim = cin * k * k;
        let kpad = round4(kdim);
        let npos = hout * wout;
        let raw = self.w.get(weight)?.to_vec();
        let mut flags = 0;
        let (wsel, csel) = match bn {
            Some(bn) => {
                let gamma = self.w.get(&format!("{bn}.weight"))?.to_vec();
                let beta = self.w.get(&format!("{bn}.bias"))?.to_vec();
                let (mut ws, mut cs) = (Vec::new(), Vec::new());
                for s in 0..self.sets {
                    let mean = self.w.get(&format!("{bn}.stats{s}.mean"))?;
                    let var = self.w.get(&format!("{bn}.stats{s}.var"))?;
                    let mut folded = raw.clone();
                    let mut chan = vec![0f32; 2 * cout];
                    for co in 0..cout {
                        let sc = gamma[co] as f64 / (var[co] as f64 + BN_EPS).sqrt();
                        for v in &mut folded[co * kdim..(co + 1) * kdim] {
                            *v = (*v as f64 * sc) as f32;
                        }
                        chan[co] = (beta[co] as f64 - mean[co] as f64 * sc) as f32;
                    }
                    ws.push(self.upload(&format!("{weight}#set{s}"), &pad_rows(&folded, cout, kdim))?);
                    cs.push(self.upload(&format!("{bn}#set{s}"), &chan)?);
                }
                flags |= HAS_BIAS;
                (Sel::PerSet(ws), Sel::PerSet(cs))
            }
            None => {
                let wid = self.upload(weight, &pad_rows(&raw, cout, kdim))?;
                let mut chan = vec![0f32; 2 * cout];
                if let Some(b) = &bias {
                    chan[..cout].copy_from_slice(self.w.get(b)?);
                    flags |= HAS_BIAS;
                }
                if let Some(s) = scale {
                    chan[cout..].copy_from_slice(self.w.get(s)?);
                    flags |= HAS_SCALE;
                }
                let cid = self.upload(&format!("{weight}#chan"), &chan)?;
                (Sel::Fixed(wid), Sel::Fixed(cid))
            }
        };
        if res.is_some() {
            flags |= HAS_RES;
        }
        let y = self.alloc(label, cout * npos)?;
        let vec4 = k == 1 && stride == 1 && npos % 4 == 0;
        let (gsel, gain_param) = Self::gain_sel(site, word(std::mem::offset_of!(ConvParams, gain_mode)), GAIN_POSITION);
        let u = |n: usize| n as u32;
        self.push(Launch {
            kernel: if vec4 { Kernel::Conv1x1Vec4 } else { Kernel::ConvGemm },
            bufs: vec![Sel::Fixed(x), wsel, csel, res.map_or(Sel::Fixed(usize::MAX), Sel::Fixed), gsel, Sel::Fixed(y)],
            params: ConvParams {
                cin: u(cin),
                h: u(h),
                w: u(w),
                cout: u(cout),
                hout: u(hout),
                wout: u(wout),
                ksize: u(k),
                stride: u(stride),
                pad: u(pad),
                kdim: u(kdim),
                kpad: u(kpad),
                npos: u(npos),
                flags,
                act,
                gain_mode: GAIN_NONE,
            }
            .block(),
            gain_param,
            groups: [groups(npos, 32), groups(cout, 32), 1],
            flops: 2 * (cout * npos * kdim) as u64,
            label: format!("{label} (conv{k}x{k}/{stride})"),
        })?;
        self.record_site(site, y);
        Ok((y, [cout, hout, wout]))
    }

    /// y[m, n] = x[m, :]·W[n, :] (+ epilogue) for the m rows of `rows`, into `out` at an
    /// offset (or a new buffer).
    fn linear(
        &mut self,
        label: &str,
        Rows { x, off: x_off, m_stride: x_mstride, k_stride: x_kstride, m }: Rows,
        Dense { weight, k, n, bias, scale, res, act }: Dense,
        out: Option<(BufId, usize)>,
        site: Option<usize>,
    ) -> Result<BufId, GpuError> {
        let wid = self.upload(&format!("{label}.weight"), &pad_rows(weight, n, k))?;
        let mut chan = vec![0f32; 2 * n];
        let mut flags = 0;
        if let Some(b) = bias {
            chan[..n].copy_from_slice(b);
            flags |= HAS_BIAS;
        }
        if let Some(s) = scale {
            chan[n..].copy_from_slice(s);
            flags |= HAS_SCALE;
        }
        if res.is_some() {
            flags |= HAS_RES;
        }
        let cid = self.upload(&format!("{label}.chan"), &chan)?;
        let (y, y_off) = match out {
            Some(o) => o,
            None => (self.alloc(label, m * n)?, 0),
        };
        let (gsel, gain_param) = Self::gain_sel(site, word(std::mem::offset_of!(LinearParams, gain_mode)), GAIN_UNIT);
        let u = |n: usize| n as u32;
        self.push(Launch {
            kernel: Kernel::Linear,
            bufs: vec![
                Sel::Fixed(x),
                Sel::Fixed(wid),
                Sel::Fixed(cid),
                res.map_or(Sel::Fixed(usize::MAX), |r| Sel::Fixed(r.0)),
                gsel,
                Sel::Fixed(y),
            ],
            params: LinearParams {
                m: u(m),
                k: u(k),
                kpad: u(round4(k)),
                n: u(n),
                x_off: u(x_off),
                x_mstride: u(x_mstride),
                x_kstride: u(x_kstride),
                y_off: u(y_off),
                y_mstride: u(n),
                flags,
                act,
                gain_mode: GAIN_NONE,
                res_off: u(res.map_or(0, |r| r.1)),
            }
            .block(),
            gain_param,
            groups: [n as u32, m as u32, 1],
            flops: 2 * (m * n * k) as u64,
            label: format!("{label} (linear {k}->{n})"),
        })?;
        self.record_site(site, y);
        Ok(y)
    }

    /// A linear layer from the tensors `{prefix}.weight` / `{prefix}.bias` on a vector.
    fn dense(&mut self, prefix: &str, x: BufId, k: usize, n: usize, act: u32, site: Option<usize>) -> Result<BufId, GpuError> {
        let (w, b) = (self.w.get(&format!("{prefix}.weight"))?.to_vec(), self.w.get(&format!("{prefix}.bias"))?.to_vec());
        self.linear(prefix, Rows::vector(x, k), Dense { bias: Some(&b), act, ..Dense::new(&w, k, n) }, None, site)
    }

    /// A residual branch of the class token: res + γ ⊙ (W x + b), the tensors `{prefix}.weight`,
    /// `{prefix}.bias` and `gamma`.
    fn scaled_branch(&mut self, prefix: &str, x: BufId, k: usize, n: usize, gamma: &str, res: BufId) -> Result<BufId, GpuError> {
        let (w, b) = (self.w.get(&format!("{prefix}.weight"))?.to_vec(), self.w.get(&format!("{prefix}.bias"))?.to_vec());
        let g = self.w.get(gamma)?.to_vec();
        let layer = Dense { bias: Some(&b), scale: Some(&g), res: Some((res, 0)), ..Dense::new(&w, k, n) };
        self.linear(prefix, Rows::vector(x, k), layer, None, None)
    }

    /// Max-pool k×k (2 or 3), stride 2, `pad` zeros around the input.
    fn max_pool(&mut self, label: &str, x: BufId, [c, h, w]: [usize; 3], k: usize, pad: usize) -> Result<(BufId, [usize; 3]), GpuError> {
        let (ho, wo) = (pool_out(h + 2 * pad, k, 2), pool_out(w + 2 * pad, k, 2));
        let y = self.alloc(label, c * ho * wo)?;
        self.push(Launch {
            kernel: Kernel::MaxPool,
            bufs: vec![Sel::Fixed(x), Sel::Fixed(y)],
            params: PoolParams {
                c: c as u32,
                h: h as u32,
                w: w as u32,
                hout: ho as u32,
                wout: wo as u32,
                y_off: 0,
                k: k as u32,
                pad: pad as u32,
            }
            .block(),
            gain_param: None,
            groups: [groups(ho * wo, 64), c as u32, 1],
            flops: (k * k * c * ho * wo) as u64,
            label: format!("{label} (max-pool {k}/2)"),
        })?;
        Ok((y, [c, ho, wo]))
    }

    /// Mean over positions of each channel into `out` at `off` (or a new buffer).
    fn avg_pool(&mut self, label: &str, x: BufId, c: usize, n: usize, out: Option<(BufId, usize)>) -> Result<BufId, GpuError> {
        let (y, off) = match out {
            Some(o) => o,
            None => (self.alloc(label, c)?, 0),
        };
        self.push(Launch {
            kernel: Kernel::AvgPool,
            bufs: vec![Sel::Fixed(x), Sel::Fixed(y)],
            params: PoolParams { c: c as u32, h: n as u32, w: 1, y_off: off as u32, ..Default::default() }.block(),
            gain_param: None,
            groups: [c as u32, 1, 1],
            flops: (c * n) as u64,
            label: format!("{label} (avg-pool)"),
        })?;
        Ok(y)
    }

    /// LayerNorm over channels at each of `n` positions; element (c, t) at c·cs + t·ts.
    #[allow(clippy::too_many_arguments)]
    fn layer_norm(
        &mut self,
        label: &str,
        prefix: &str,
        x: BufId,
        c: usize,
        n: usize,
        (cs, ts): (usize, usize),
        eps: f32,
    ) -> Result<BufId, GpuError> {
        let mut wb = self.w.get(&format!("{prefix}.weight"))?.to_vec();
        wb.extend_from_slice(self.w.get(&format!("{prefix}.bias"))?);
        let wbid = self.upload(&format!("{prefix}.wb"), &wb)?;
        let y = self.alloc(label, c * n)?;
        self.push(Launch {
            kernel: Kernel::LayerNorm,
            bufs: vec![Sel::Fixed(x), Sel::Fixed(wbid), Sel::Fixed(y)],
            params: NormParams { c: c as u32, n: n as u32, c_stride: cs as u32, t_stride: ts as u32, eps }.block(),
            gain_param: None,
            groups: [groups(n, 64), 1, 1],
            flops: (8 * c * n) as u64,
            label: format!("{label} (layer-norm)"),
        })?;
        Ok(y)
    }

    /// The launches of one graph node; returns its output buffer.
    fn node(&mut self, node: &Node, vals: &[BufId], attention: &mut Option<AttentionOut>) -> Result<BufId, GpuError> {
        let (x, label) = (vals[node.input.0], node.name.as_str());
        let shape @ [c, h, w] = self.graph.shape(node.input);
        let site = node.site.and_then(|i| self.graph.attended[i]);
        Ok(match &node.op {
            Op::Conv(spec) => self.conv(label, x, shape, spec, spec.residual.map(|r| vals[r.0]), site)?.0,
            Op::MaxPool { k, pad } => self.max_pool(label, x, shape, *k, *pad)?.0,
            Op::LayerNorm { prefix } => self.layer_norm(label, prefix, x, c, h * w, (h * w, 1), 1e-6)?,
            Op::DepthwiseGelu { prefix } => self.depthwise_gelu(prefix, x, shape)?,
            Op::SqueezeExcite { prefix, reduced } => self.squeeze_excite(prefix, x, shape, *reduced)?,
            Op::AvgPool => self.avg_pool(label, x, c, h * w, None)?,
            Op::Linear { prefix, units, act } => self.dense(prefix, x, c * h * w, *units, act_code(*act), site)?,
            Op::ClassAttention { prefix, heads, classes, .. } => {
                let (logits, weights) = self.class_attention(prefix, x, shape, *heads, *classes, site)?;
                *attention = Some(weights);
                logits
            }
        })
    }

    /// Depthwise 3x3 conv with bias, then GELU.
    fn depthwise_gelu(&mut self, p: &str, x: BufId, [c, h, w]: [usize; 3]) -> Result<BufId, GpuError> {
        let np = h * w;
        let dww = self.upload(&format!("{p}.weight"), self.w.get(&format!("{p}.weight"))?)?;
        let dwb = self.upload(&format!("{p}.bias"), self.w.get(&format!("{p}.bias"))?)?;
        let d = self.alloc(p, c * np)?;
        self.push(Launch {
            kernel: Kernel::Depthwise3x3,
            bufs: vec![Sel::Fixed(x), Sel::Fixed(dww), Sel::Fixed(dwb), Sel::Fixed(d)],
            params: DepthwiseParams { c: c as u32, h: h as u32, w: w as u32, act: ACT_GELU }.block(),
            gain_param: None,
            groups: [groups(np, 64), c as u32, 1],
            flops: (2 * 9 * c * np) as u64,
            label: format!("{p} (depthwise3x3)"),
        })?;
        Ok(d)
    }

    /// Squeeze-excitation: gates from the channel means, times the input.
    fn squeeze_excite(&mut self, p: &str, x: BufId, [c, h, w]: [usize; 3], r: usize) -> Result<BufId, GpuError> {
        let np = h * w;
        let s = self.avg_pool(&format!("{p}.squeeze"), x, c, np, None)?;
        let s = self.dense(&format!("{p}.reduce"), s, c, r, ACT_RELU, None)?;
        let gate = self.dense(&format!("{p}.expand"), s, r, c, ACT_SIGMOID, None)?;
        let e = self.alloc(p, c * np)?;
        self.push(Launch {
            kernel: Kernel::SeScale,
            bufs: vec![Sel::Fixed(x), Sel::Fixed(gate), Sel::Fixed(e)],
            params: SeParams { c: c as u32, n: np as u32 }.block(),
            gain_param: None,
            groups: [groups(np, 64), c as u32, 1],
            flops: (c * np) as u64,
            label: format!("{p} (scale)"),
        })?;
        Ok(e)
    }

    /// Class attention over the patches of x and the classifier; returns the logits buffer
    /// (modulated at the logit site) and the attention weights.
    fn class_attention(
        &mut self,
        p: &str,
        x: BufId,
        [c, h, w]: [usize; 3],
        heads: usize,
        classes: usize,
        site: Option<usize>,
    ) -> Result<(BufId, AttentionOut), GpuError> {
        let n = h * w;
        let t = n + 1;
        let dh = c / heads;
        let cls = self.upload(&format!("{p}.cls_token"), self.w.get(&format!("{p}.cls_token"))?)?;
        let tokens = self.alloc(&format!("{p}.tokens"), c * t)?;
        let ap = |c: usize| AttentionParams { c: c as u32, t: t as u32, heads: heads as u32, dh: dh as u32 }.block();
        self.push(Launch {
            kernel: Kernel::AssembleTokens,
            bufs: vec![Sel::Fixed(cls), Sel::Fixed(x), Sel::Fixed(tokens)],
            params: ap(c),
            gain_param: None,
            groups: [groups(t, 64), c as u32, 1],
            flops: 0,
            label: format!("{p}.tokens (assemble)"),
        })?;
        // channel-major tokens (C, T): LayerNorm per token over channels
        let u = self.layer_norm(&format!("{p}.norm1"), &format!("{p}.norm1"), tokens, c, t, (t, 1), 1e-6)?;
        // q for the class token only, scaled by dh^-1/2 (folded into W and b)
        let s = (dh as f64).powf(-0.5);
        let wq: Vec<f32> = self.w.get(&format!("{p}.q.weight"))?.iter().map(|&v| (v as f64 * s) as f32).collect();
        let bq: Vec<f32> = self.w.get(&format!("{p}.q.bias"))?.iter().map(|&v| (v as f64 * s) as f32).collect();
        let class_token = Rows { x: u, off: 0, m_stride: 0, k_stride: t, m: 1 };
        let q = self.linear(&format!("{p}.q"), class_token, Dense { bias: Some(&bq), ..Dense::new(&wq, c, c) }, None, None)?;
        // k and v for every token: 1x1 convolutions over the T positions
        let tshape = [c, 1, t];
        let pointwise = |name: String| ConvSpec { bias: true, ..graph::conv(name, c, c, 1, 1, Act::None) };
        let (kk, _) = self.conv(&format!("{p}.k"), u, tshape, &pointwise(format!("{p}.k")), None, None)?;
        let (vv, _) = self.conv(&format!("{p}.v"), u, tshape, &pointwise(format!("{p}.v")), None, None)?;
        let scores = self.alloc(&format!("{p}.scores"), heads * t)?;
        self.push(Launch {
            kernel: Kernel::AttnScores,
            bufs: vec![Sel::Fixed(q), Sel::Fixed(kk), Sel::Fixed(scores)],
            params: ap(c),
            gain_param: None,
            groups: [groups(t, 64), heads as u32, 1],
            flops: (2 * c * t) as u64,
            label: format!("{p}.scores (q·k)"),
        })?;
        let attn = self.alloc(&format!("{p}.attn"), heads * t)?;
        self.push(Launch {
            kernel: Kernel::Softmax,
            bufs: vec![Sel::Fixed(scores), Sel::Fixed(attn)],
            params: SoftmaxParams { len: t as u32, ..Default::default() }.block(),
            gain_param: None,
            groups: [heads as u32, 1, 1],
            flops: (5 * heads * t) as u64,
            label: format!("{p}.attn (softmax)"),
        })?;
        let o = self.alloc(&format!("{p}.attn_out"), c)?;
        self.push(Launch {
            kernel: Kernel::AttnWeightedSum,
            bufs: vec![Sel::Fixed(attn), Sel::Fixed(vv), Sel::Fixed(o)],
            params: ap(c),
            gain_param: None,
            groups: [c as u32, 1, 1],
            flops: (2 * c * t) as u64,
            label: format!("{p}.attn_out (weighted sum)"),
        })?;
        let (gamma1, gamma2) = (format!("{p}.gamma1"), format!("{p}.gamma2"));
        let cls1 = self.scaled_branch(&format!("{p}.proj"), o, c, c, &gamma1, cls)?;
        let n2 = self.layer_norm(&format!("{p}.norm2"), &format!("{p}.norm2"), cls1, c, 1, (1, 1), 1e-6)?;
        let hidden = self.w.get(&format!("{p}.mlp.fc1.bias"))?.len();
        let f1 = self.dense(&format!("{p}.mlp.fc1"), n2, c, hidden, ACT_GELU, None)?;
        let cls2 = self.scaled_branch(&format!("{p}.mlp.fc2"), f1, hidden, c, &gamma2, cls1)?;
        let n3 = self.layer_norm(&format!("{p}.norm"), &format!("{p}.norm"), cls2, c, 1, (1, 1), 1e-6)?;
        let logits = self.dense(&format!("{p}.fc"), n3, c, classes, ACT_NONE, site)?;
        Ok((logits, (attn, heads, t)))
    }
}

fn act_code(act: Act) -> u32 {
    match act {
        Act::None => ACT_NONE,
        Act::Relu => ACT_RELU,
        Act::Gelu => ACT_GELU,
    }
}

pub(crate) fn build(gpu: &Gpu, weights: &Weights, cfg: &ModelConfig) -> Result<Plan, GpuError> {
    let graph = cfg.graph();
    let sites_info = graph.attended_sites();
    let nsites = sites_info.len();
    let mut b = Builder {
        gpu,
        w: weights,
        graph: &graph,
        sets: cfg.stat_sets(),
        bufs: Vec::new(),
        ops: Vec::new(),
        site_acts: vec![None; nsites],
        site_gains: Vec::new(),
        site_n: Vec::new(),
    };
    let dummy = b.alloc("dummy", 4)?;
    for s in &sites_info {
        let n = s.spatial.map_or(s.channels, |[h, w]| h * w);
        let g = b.upload(&format!("gatta.{}.gain", s.name), &vec![1.0; n])?;
        b.site_gains.push(g);
        b.site_n.push(n);
    }
    let [cin, h, w] = graph.input;
    let input = b.alloc("input", cin * h * w)?;
    let mut vals = vec![input];
    let mut attention = None;
    for node in &graph.nodes {
        let y = b.node(node, &vals, &mut attention)?;
        vals.push(y);
    }
    let logits = vals[graph.output().0];
    let classes = cfg.num_classes();
    let probs = b.alloc("probabilities", classes)?;
    b.push(Launch {
        kernel: Kernel::Softmax,
        bufs: vec![Sel::Fixed(logits), Sel::Fixed(probs)],
        params: SoftmaxParams { len: classes as u32, ..Default::default() }.block(),
        gain_param: None,
        groups: [1, 1, 1],
        flops: 5 * classes as u64,
        label: "probabilities (softmax)".into(),
    })?;
    let forward = std::mem::take(&mut b.ops);

    // GAttANet: query pooling, global query, agreement + next gains.
    let mut sites = Vec::new();
    let (mut qbar, mut alpha) = (None, None);
    if let (Some(att), true) = (&cfg.attention, nsites > 0) {
        let d = att.dim;
        let queries = b.alloc("gatta.queries", nsites * d)?;
        let total: usize = b.site_n.iter().sum();
        let lw: Vec<f32> = match att.pooling {
            QueryPooling::LayerBalanced => vec![1.0 / nsites as f32; nsites],
            QueryPooling::Flat => b.site_n.iter().map(|&n| (n as f64 / total as f64) as f32).collect(),
        };
        let lwid = b.upload("gatta.layer_weights", &lw)?;
        let alpha_id = b.upload("gatta.alpha", &vec![0.0; nsites])?;
        let qb = b.alloc("gatta.qbar", d)?;
        for (l, s) in sites_info.iter().enumerate() {
            let act = b.site_acts[l].ok_or_else(|| GpuError::Validation(format!("site {} produced no activation", s.name)))?;
            let c = s.channels;
            let q = weights.get(&format!("gatta.{}.query", s.name))?; // (C, d)
                                                                      // Qᵀ as (d, C); dense layers average over their C "positions": fold 1/C in.
            let div = if s.spatial.is_some() { 1.0 } else { c as f64 };
            let mut qt = vec![0f32; d * c];
            for ci in 0..c {
                for j in 0..d {
                    qt[j * c + ci] = (q[ci * d + j] as f64 / div) as f32;
                }
            }
            let pooled = match s.spatial {
                Some([h, w]) => b.avg_pool(&format!("gatta.{}.mean", s.name), act, c, h * w, None)?,
                None => act,
            };
            b.linear(&format!("gatta.{}.query", s.name), Rows::vector(pooled, c), Dense::new(&qt, c, d), Some((queries, l * d)), None)?;
        }
        b.push(Launch {
            kernel: Kernel::GlobalQuery,
            bufs: vec![Sel::Fixed(queries), Sel::Fixed(lwid), Sel::Fixed(qb)],
            params: GattaParams { d: d as u32, layers: nsites as u32, ..Default::default() }.block(),
            gain_param: None,
            groups: [groups(d, 64), 1, 1],
            flops: (2 * d * nsites) as u64,
            label: "gatta.global_query".into(),
        })?;
        let scale = if att.scale_by_sqrt_d { (1.0 / (d as f64).sqrt()) as f32 } else { 1.0 };
        for (l, s) in sites_info.iter().enumerate() {
            let act = b.site_acts[l].expect("checked above");
            let c = s.channels;
            let key = weights.get(&format!("gatta.{}.key", s.name))?.to_vec(); // (C, d) = (out, in)
            let wk = b.linear(&format!("gatta.{}.key", s.name), Rows::vector(qb, d), Dense::new(&key, d, c), None, None)?;
            let n = b.site_n[l];
            let agree = b.alloc(&format!("gatta.{}.agreement", s.name), n)?;
            let dense = s.spatial.is_none();
            b.push(Launch {
                kernel: Kernel::Agreement,
                bufs: vec![Sel::Fixed(act), Sel::Fixed(wk), Sel::Fixed(alpha_id), Sel::Fixed(agree), Sel::Fixed(b.site_gains[l])],
                params: GattaParams {
                    d: d as u32,
                    layers: nsites as u32,
                    c: c as u32,
                    n: n as u32,
                    dense: dense as u32,
                    layer: l as u32,
                    scale,
                    bounded: att.bounded as u32,
                }
                .block(),
                gain_param: None,
                groups: [groups(n, 64), 1, 1],
                flops: if dense { 2 * c as u64 } else { (2 * c * n) as u64 },
                label: format!("gatta.{}.agreement", s.name),
            })?;
            sites.push(SitePlan {
                info: s.clone(),
                n,
                agree,
                gain: b.site_gains[l],
                learned_alpha: weights.scalar(&format!("gatta.{}.alpha", s.name))?,
            });
        }
        qbar = Some((qb, d));
        alpha = Some(alpha_id);
    }
    let gatta = std::mem::take(&mut b.ops);
    let features = graph.features;
    Ok(Plan { bufs: b.bufs, dummy, input, forward, gatta, logits, probs, classes, sites, qbar, alpha, attention, sets: b.sets, features })
}

pub(crate) fn bytemuck_cast(v: &[f32]) -> &[u8] {
    bytemuck::cast_slice(v)
}

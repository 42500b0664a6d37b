//! Optimisers (SGD with Nesterov momentum, AdamW), learning-rate schedules, gradient-norm
//! clipping and the label-smoothed cross-entropy. The optimisers keep their state as plain
//! `f32` vectors so a checkpoint can store it and a resumed run continues exactly.
use std::collections::HashMap;

use anyhow::{bail, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var, D};
use serde::{Deserialize, Serialize};

/// Whether a variable is a BatchNorm running statistic (`*.bn.stats{p}.mean|var`): updated by the
/// forward pass in train mode, never by the optimiser.
pub fn is_bn_stat(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let (Some(last), Some(set)) = (parts.next(), parts.next()) else { return false };
    matches!(last, "mean" | "var") && set.strip_prefix("stats").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether weight decay applies: conv/linear weights and GAttANet keys and queries; not norms
/// (BatchNorm, LayerNorm), biases, α, LayerScale gammas or the class token.
pub fn decays(name: &str) -> bool {
    let is_norm = name.split('.').any(|p| p == "bn" || p.starts_with("norm"));
    !is_norm && (name.ends_with(".weight") || name.ends_with(".key") || name.ends_with(".query"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum 0.9, L2 weight decay added to the gradient (as PyTorch's SGD).
    Sgd,
    /// AdamW (β 0.9, 0.999, ε 1e-8), decoupled weight decay.
    Adamw,
}

pub const MOMENTUM: f32 = 0.9;
pub const ADAM_BETAS: (f32, f32) = (0.9, 0.999);
pub const ADAM_EPS: f32 = 1e-8;

/// How one group of parameters is updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group {
    pub kind: OptimizerKind,
    /// This group's learning rate is the schedule's times this.
    pub lr_scale: f64,
    pub weight_decay: f32,
}

/// One trained variable and its optimiser state.
pub struct Param {
    pub name: String,
    pub var: Var,
    pub decay: bool,
    pub group: Group,
    /// SGD: [momentum buffer]; AdamW: [m, v]. Empty until the first step.
    pub state: Vec<Vec<f32>>,
}

pub struct Optimizer {
    pub params: Vec<Param>,
    /// Steps taken.
    pub steps: u64,
}

/// Whether a parameter belongs to the classifier head or to GAttANet (keys, queries, α): the
/// parts that `TrainOptions::head_lr` may give their own AdamW group. The class-attention head
/// is LayerNorm-based (not scale-invariant like the BatchNorm trunk) and learns poorly with the
/// trunk's high SGD learning rate.
pub fn is_head_or_attention(name: &str) -> bool {
    name.starts_with("head.") || name.starts_with("gatta.")
}

impl Optimizer {
    /// Every variable except BatchNorm statistics, sorted by name, in one group.
    pub fn new(kind: OptimizerKind, weight_decay: f64, vars: &HashMap<String, Var>) -> Self {
        let group = Group { kind, lr_scale: 1.0, weight_decay: weight_decay as f32 };
        let mut params: Vec<Param> = vars
            .iter()
            .filter(|(n, _)| !is_bn_stat(n))
            .map(|(n, v)| Param { name: n.clone(), var: v.clone(), decay: decays(n), group, state: Vec::new() })
            .collect();
        params.sort_by(|a, b| a.name.cmp(&b.name));
        Optimizer { params, steps: 0 }
    }

    /// Put the parameters whose name matches `select` in their own group.
    pub fn with_group(mut self, select: impl Fn(&str) -> bool, group: Group) -> Self {
        for p in self.params.iter_mut().filter(|p| select(&p.name)) {
            p.group = group;
        }
        self
    }

    /// Gradients of the parameters as vectors (zeros where a parameter got none).
    pub fn gradients(&self, grads: &GradStore) -> Result<Vec<Option<Vec<f32>>>> {
        self.params.iter().map(|p| Ok(grads.get(p.var.as_tensor()).map(|g| g.flatten_all()?.to_vec1::<f32>()).transpose()?)).collect()
    }

    /// One update with learning rate `lr`; `grads` as from [`Optimizer::gradients`] (already clipped).
    pub fn step(&mut self, grads: &[Option<Vec<f32>>], lr: f64) -> Result<()> {
        if grads.len() != self.params.len() {
            bail!("{} gradients for {} parameters", grads.len(), self.params.len());
        }
        self.steps += 1;
        let t = self.steps as i32;
        for (p, g) in self.params.iter_mut().zip(grads) {
            let Some(g) = g else { continue }; // unused this step: untouched, as PyTorch
            let t_var = p.var.as_tensor();
            let mut w = t_var.flatten_all()?.to_vec1::<f32>()?;
            let wd = if p.decay { p.group.weight_decay } else { 0.0 };
            let lr = (lr * p.group.lr_scale) as f32;
            match p.group.kind {
                OptimizerKind::Sgd => {
                    if p.state.is_empty() {
                        p.state = vec![vec![0.0; w.len()]];
                    }
                    let buf = &mut p.state[0];
                    for ((w, &g), b) in w.iter_mut().zip(g).zip(buf.iter_mut()) {
                        let g = g + wd * *w;
                        *b = MOMENTUM * *b + g;
                        *w -= lr * (g + MOMENTUM * *b);
                    }
                }
                OptimizerKind::Adamw => {
                    if p.state.is_empty() {
                        p.state = vec![vec![0.0; w.len()], vec![0.0; w.len()]];
                    }
                    let (b1, b2) = ADAM_BETAS;
                    let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                    let [m, v] = p.state.as_mut_slice() else { bail!("AdamW state of {} is corrupt", p.name) };
                    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                        *w *= 1.0 - lr * wd;
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *w -= lr * (*m / c1) / ((*v / c2).sqrt() + ADAM_EPS);
                    }
                }
            }
            p.var.set(&Tensor::from_vec(w, t_var.shape(), t_var.device())?)?;
        }
        Ok(())
    }

    /// The state as named tensors (`{param}.{i}`), for a checkpoint.
    pub fn state_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for p in &self.params {
            for (i, s) in p.state.iter().enumerate() {
                let t = p.var.as_tensor();
                out.insert(format!("{}.{i}", p.name), Tensor::from_vec(s.clone(), t.shape(), t.device())?);
            }
        }
        Ok(out)
    }

    /// Restore the state written by [`Optimizer::state_tensors`].
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        for p in &mut self.params {
            let slots = match p.group.kind {
                OptimizerKind::Sgd => 1,
                OptimizerKind::Adamw => 2,
            };
            let found: Vec<Option<&Tensor>> = (0..slots).map(|i| tensors.get(&format!("{}.{i}", p.name))).collect();
            if found.iter().all(Option::is_none) {
                p.state.clear(); // never stepped (no gradient yet)
                continue;
            }
            p.state = found
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let Some(t) = t else { bail!("optimiser state `{}.{i}` missing from the checkpoint", p.name) };
                    if t.dims() != p.var.dims() {
                        bail!("optimiser state `{}.{i}` has shape {:?}, the parameter {:?}", p.name, t.dims(), p.var.dims());
                    }
                    Ok(t.flatten_all()?.to_vec1::<f32>()?)
                })
                .collect::<Result<_>>()?;
        }
        self.steps = steps;
        Ok(())
    }
}

/// Scale all gradients so their global L2 norm is at most `max_norm` (0: no clipping). Returns
/// the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Option<Vec<f32>>], max_norm: f64) -> f64 {
    let norm = grads.iter().flatten().flat_map(|g| g.iter()).map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = (max_norm / (norm + 1e-6)) as f32;
        grads.iter_mut().flatten().flat_map(|g| g.iter_mut()).for_each(|v| *v *= scale);
    }
    norm
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Cosine warm-up from peak/25 to the peak, then cosine down to peak/10⁴ (PyTorch's OneCycleLR).
    Onecycle,
    /// Linear warm-up to the peak, then cosine down to 0.
    Cosine,
}

/// The learning rate at `step` (0-based) of `total` steps. The peak is reached at step
/// `round(warmup × total)`; the final value at step `total − 1`.
pub fn learning_rate(kind: ScheduleKind, peak: f64, warmup: f64, step: usize, total: usize) -> f64 {
    let total = total.max(1);
    let last = total - 1;
    let warm = ((warmup.clamp(0.0, 1.0) * total as f64).round() as usize).min(last);
    let cos = |from: f64, to: f64, t: f64| to + (from - to) * 0.5 * (1.0 + (std::f64::consts::PI * t.clamp(0.0, 1.0)).cos());
    let (start, end) = match kind {
        ScheduleKind::Onecycle => (peak / 25.0, peak / 1e4),
        ScheduleKind::Cosine => (0.0, 0.0),
    };
    if step < warm {
        let t = step as f64 / warm as f64;
        match kind {
            ScheduleKind::Onecycle => cos(start, peak, t),
            ScheduleKind::Cosine => peak * (step + 1) as f64 / (warm + 1) as f64,
        }
    } else if last == warm {
        peak
    } else {
        cos(peak, end, (step - warm) as f64 / (last - warm) as f64)
    }
}

/// Cross-entropy with label smoothing ε, averaged over the batch: the target puts 1 − ε on the
/// label and ε/K on every class (as PyTorch's `label_smoothing`). Differentiable in `logits` (B, K).
pub fn smoothed_cross_entropy(logits: &Tensor, labels: &[u32], eps: f64) -> candle_core::Result<Tensor> {
    let (b, k) = logits.dims2()?;
    if labels.len() != b || labels.iter().any(|&l| l as usize >= k) {
        candle_core::bail!("cross-entropy: {} labels (max {:?}) for logits of shape ({b}, {k})", labels.len(), labels.iter().max());
    }
    let mut target = vec![(eps / k as f64) as f32; b * k];
    for (i, &l) in labels.iter().enumerate() {
        target[i * k + l as usize] += (1.0 - eps) as f32;
    }
    let target = Tensor::from_vec(target, (b, k), logits.device())?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    (logp * target)?.sum_all()?.affine(-1.0 / b as f64, 0.0)
}

/// The training loss of a run: CE on the final pass + `aux_weight` × CE on each earlier pass.
pub fn passes_loss(logits: &[Tensor], labels: &[u32], eps: f64, aux_weight: f64) -> candle_core::Result<Tensor> {
    let (last, earlier) = logits.split_last().expect("at least one pass");
    let mut loss = smoothed_cross_entropy(last, labels, eps)?;
    if aux_weight > 0.0 {
        for l in earlier {
            loss = (loss + smoothed_cross_entropy(l, labels, eps)?.affine(aux_weight, 0.0)?)?;
        }
    }
    Ok(loss)
}

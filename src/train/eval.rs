//! Accuracy of a model on a data set in eval mode (BatchNorm running statistics), optionally
//! with Gaussian noise.
use anyhow::Result;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use super::augment::{derived_rng, make_batch, Batch, Transform};
use super::data::Dataset;
use crate::model::{Model, RunOptions};

/// Images per forward batch in evaluation, unless asked otherwise (`eval --batch`).
pub const EVAL_BATCH: usize = 250;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassAccuracy {
    pub class: String,
    pub accuracy: f64,
    pub images: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Accuracy of the final pass.
    pub accuracy: f64,
    pub per_class: Vec<ClassAccuracy>,
    /// Accuracy of every pass (pass 0 is the plain feed-forward pass).
    pub per_pass: Vec<f64>,
    pub images: usize,
    /// Images whose final logits were not all finite numbers (counted as wrong).
    #[serde(default)]
    pub non_finite: usize,
}

/// Top-1 predictions of each row of (B, K) logits.
pub fn argmax(logits: &Tensor) -> Result<Vec<u32>> {
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
}

/// Run the passes on a batch; the logits of every pass.
pub fn forward(model: &Model, batch: &Batch, passes: usize, train: bool) -> Result<Vec<Tensor>> {
    let x = Tensor::from_slice(&batch.x, batch.shape, model.device())?;
    let out = model.run(&x, &RunOptions { passes, alphas: None, train, final_maps: false, keep: None })?;
    Ok(out.into_iter().map(|o| o.logits).collect())
}

/// Count correct predictions per pass and per class.
#[derive(Debug, Clone)]
pub struct Tally {
    pub correct_per_pass: Vec<usize>,
    pub correct_per_class: Vec<usize>,
    pub per_class: Vec<usize>,
    pub images: usize,
    pub non_finite: usize,
}

impl Tally {
    pub fn new(classes: usize) -> Self {
        Tally { correct_per_pass: Vec::new(), correct_per_class: vec![0; classes], per_class: vec![0; classes], images: 0, non_finite: 0 }
    }

    pub fn add(&mut self, logits: &[Tensor], labels: &[u32]) -> Result<()> {
        if self.correct_per_pass.len() < logits.len() {
            self.correct_per_pass.resize(logits.len(), 0);
        }
        for (p, l) in logits.iter().enumerate() {
            let pred = argmax(l)?;
            // NaN or ±∞ anywhere in a row makes its argmax meaningless: wrong, and counted
            let finite: Vec<bool> = l.to_vec2::<f32>()?.iter().map(|row| row.iter().all(|v| v.is_finite())).collect();
            let last = p + 1 == logits.len();
            if last {
                self.non_finite += finite.iter().filter(|f| !**f).count();
            }
            for ((&y, &yh), ok) in labels.iter().zip(&pred).zip(finite) {
                if ok && y == yh {
                    self.correct_per_pass[p] += 1;
                    if last {
                        self.correct_per_class[y as usize] += 1;
                    }
                }
            }
        }
        for &y in labels {
            self.per_class[y as usize] += 1;
        }
        self.images += labels.len();
        Ok(())
    }

    pub fn result(&self, classes: &[String]) -> EvalResult {
        let n = self.images.max(1) as f64;
        EvalResult {
            accuracy: self.correct_per_pass.last().map_or(0.0, |&c| c as f64 / n),
            per_class: classes
                .iter()
                .enumerate()
                .map(|(i, c)| ClassAccuracy {
                    class: c.clone(),
                    accuracy: self.correct_per_class[i] as f64 / self.per_class[i].max(1) as f64,
                    images: self.per_class[i],
                })
                .collect(),
            per_pass: self.correct_per_pass.iter().map(|&c| c as f64 / n).collect(),
            images: self.images,
            non_finite: self.non_finite,
        }
    }
}

/// The batch mirrored left-right (the flip half of test-time augmentation).
pub fn mirrored(batch: &Batch) -> Batch {
    let (_, _, _, w) = batch.shape;
    let mut x = batch.x.clone();
    x.chunks_exact_mut(w).for_each(|row| row.reverse());
    Batch { x, y: batch.y.clone(), shape: batch.shape }
}

/// Accuracy per pass with flip test-time augmentation: each pass's softmax averaged over the
/// image and its mirror. Reported beside the single-view accuracy, never instead of it.
pub fn evaluate_flip_tta(model: &Model, ds: &Dataset, passes: usize, limit: Option<usize>, batch: usize) -> Result<EvalResult> {
    let n = limit.map_or(ds.len(), |l| l.min(ds.len()));
    let mut tally = Tally::new(ds.classes.len());
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(batch.max(1)) {
        let batch = make_batch(ds, chunk, &model.config.input, Transform::<rand::rngs::StdRng>::None);
        let plain = forward(model, &batch, passes, false)?;
        let flipped = forward(model, &mirrored(&batch), passes, false)?;
        let probs = plain
            .iter()
            .zip(&flipped)
            .map(|(a, b)| Ok((candle_nn::ops::softmax_last_dim(a)? + candle_nn::ops::softmax_last_dim(b)?)?))
            .collect::<Result<Vec<_>>>()?;
        tally.add(&probs, &batch.y)?;
    }
    Ok(tally.result(&ds.classes))
}

/// Evaluate on the first `limit` images (all when None) in eval mode. With `noise` = (σ, seed),
/// Gaussian noise of σ is added to the [0, 1] images first (the same noise for the same seed).
/// `batch` images run at once (the noise does not depend on it).
pub fn evaluate(
    model: &Model,
    ds: &Dataset,
    passes: usize,
    limit: Option<usize>,
    noise: Option<(f32, u64)>,
    batch: usize,
) -> Result<EvalResult> {
    let n = limit.map_or(ds.len(), |l| l.min(ds.len()));
    let mut tally = Tally::new(ds.classes.len());
    let mut rng = derived_rng(noise.map_or(0, |n| n.1), "noise", 0);
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(batch.max(1)) {
        let batch = match noise {
            Some((sigma, _)) if sigma > 0.0 => make_batch(ds, chunk, &model.config.input, Transform::Noise(sigma, &mut rng)),
            _ => make_batch(ds, chunk, &model.config.input, Transform::<rand::rngs::StdRng>::None),
        };
        let logits = forward(model, &batch, passes, false)?;
        tally.add(&logits, &batch.y)?;
    }
    Ok(tally.result(&ds.classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_logits_count_as_wrong_and_are_counted() {
        let logits = Tensor::new(&[[0f32, 5.0], [f32::NAN, 1.0], [0.0, f32::INFINITY], [3.0, 0.0]], &candle_core::Device::Cpu).unwrap();
        let mut tally = Tally::new(2);
        tally.add(&[logits], &[1, 1, 1, 0]).unwrap();
        let r = tally.result(&["a".into(), "b".into()]);
        // rows 2 and 3 would be "right" by argmax; they are not finite, so wrong
        assert_eq!((r.accuracy, r.non_finite, r.images), (0.5, 2, 4));
    }

    #[test]
    fn mirrored_reverses_each_row_of_each_channel() {
        // 2 images, 1 channel, 2x3
        let b = Batch { x: (0..12).map(|v| v as f32).collect(), y: vec![0, 1], shape: (2, 1, 2, 3) };
        let m = mirrored(&b);
        assert_eq!(m.x, vec![2., 1., 0., 5., 4., 3., 8., 7., 6., 11., 10., 9.]);
        assert_eq!((&m.y, m.shape), (&b.y, b.shape));
        assert_eq!(mirrored(&m).x, b.x);
    }
}

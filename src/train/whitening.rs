//! The patch-whitening conv of `conv_groups` backbones, set from the training data: its filters
//! are the leading eigenvectors v of the 3x3 patch covariance Σ (of normalised images), scaled
//! by 1/√(λ + ε) and used twice, as +v and −v (so the GELU after it loses no sign). Each
//! output channel then has unit variance over the data and the channels are decorrelated.
use anyhow::{bail, Result};
use nalgebra::DMatrix;

use super::augment::{make_batch, Transform};
use super::data::Dataset;
use crate::model::config::WHITENING_DIMS;
use crate::preprocess::InputSpec;

/// Images used to estimate the covariance (the estimate is stable well before this).
pub const WHITENING_IMAGES: usize = 5000;
/// Added to each eigenvalue before the square root, so near-zero directions are not blown up.
pub const WHITENING_EPS: f64 = 5e-4;

/// The 3x3 patch covariance (uncentred second moment, 27×27, index c·9 + dy·3 + dx) of the
/// normalised images, from every patch inside the image.
pub fn patch_covariance(ds: &Dataset, spec: &InputSpec, images: usize) -> Result<DMatrix<f64>> {
    let (c, h, w) = (ds.channels, ds.height, ds.width);
    if c != 3 || h < 3 || w < 3 || ds.is_empty() {
        bail!("patch whitening needs RGB images of at least 3x3 ({})", ds.summary());
    }
    let indices: Vec<usize> = (0..images.min(ds.len())).collect();
    let mut sum = DMatrix::<f64>::zeros(WHITENING_DIMS, WHITENING_DIMS);
    let mut count = 0usize;
    let mut patch = [0f64; WHITENING_DIMS];
    for chunk in indices.chunks(500) {
        let b = make_batch(ds, chunk, spec, Transform::<rand::rngs::StdRng>::None);
        for img in b.x.chunks_exact(c * h * w) {
            for y in 0..h - 2 {
                for x in 0..w - 2 {
                    for (i, v) in patch.iter_mut().enumerate() {
                        let (ch, dy, dx) = (i / 9, i / 3 % 3, i % 3);
                        *v = f64::from(img[ch * h * w + (y + dy) * w + x + dx]);
                    }
                    for i in 0..WHITENING_DIMS {
                        for j in i..WHITENING_DIMS {
                            sum[(i, j)] += patch[i] * patch[j];
                        }
                    }
                    count += 1;
                }
            }
        }
    }
    for i in 0..WHITENING_DIMS {
        for j in 0..i {
            sum[(i, j)] = sum[(j, i)];
        }
    }
    Ok(sum / count as f64)
}

/// Whitening filters (2·pairs, 3, 3, 3) from a patch covariance: the `pairs` leading
/// eigenvectors scaled by 1/√(λ + ε), then the same negated.
pub fn whitening_filters(cov: &DMatrix<f64>, pairs: usize) -> Result<Vec<f32>> {
    if cov.nrows() != WHITENING_DIMS || cov.ncols() != WHITENING_DIMS || !(1..=WHITENING_DIMS).contains(&pairs) {
        bail!("whitening: need a {WHITENING_DIMS}x{WHITENING_DIMS} covariance and 1..={WHITENING_DIMS} pairs");
    }
    let eig = cov.clone().symmetric_eigen();
    let mut order: Vec<usize> = (0..WHITENING_DIMS).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut out = vec![0f32; 2 * pairs * WHITENING_DIMS];
    for (k, &e) in order.iter().take(pairs).enumerate() {
        let scale = 1.0 / (eig.eigenvalues[e].max(0.0) + WHITENING_EPS).sqrt();
        let v = eig.eigenvectors.column(e);
        for i in 0..WHITENING_DIMS {
            out[k * WHITENING_DIMS + i] = (v[i] * scale) as f32;
            out[(pairs + k) * WHITENING_DIMS + i] = (-v[i] * scale) as f32;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagonal_covariance_gives_scaled_unit_vectors_largest_first() {
        // λ_i = i + 1 on the diagonal: the leading eigenvector is e_26, then e_25.
        let cov = DMatrix::from_fn(WHITENING_DIMS, WHITENING_DIMS, |i, j| if i == j { (i + 1) as f64 } else { 0.0 });
        let f = whitening_filters(&cov, 2).unwrap();
        assert_eq!(f.len(), 4 * WHITENING_DIMS);
        let row = |k: usize| &f[k * WHITENING_DIMS..(k + 1) * WHITENING_DIMS];
        let s27 = (1.0 / (27.0 + WHITENING_EPS).sqrt()) as f32;
        let s26 = (1.0 / (26.0 + WHITENING_EPS).sqrt()) as f32;
        assert!((row(0)[26].abs() - s27).abs() < 1e-6 && row(0)[..26].iter().all(|v| v.abs() < 1e-6));
        assert!((row(1)[25].abs() - s26).abs() < 1e-6);
        // the second half is the first negated
        assert!(row(2).iter().zip(row(0)).all(|(a, b)| *a == -*b));
        assert!(row(3).iter().zip(row(1)).all(|(a, b)| *a == -*b));
    }

    #[test]
    fn filters_whiten_a_correlated_covariance() {
        // Σ = A·Aᵀ + 0.1·I with a fixed A: the filtered outputs F·Σ·Fᵀ are ≈ the identity.
        let a = DMatrix::from_fn(WHITENING_DIMS, WHITENING_DIMS, |i, j| ((i * 7 + j * 13) % 11) as f64 / 11.0 - 0.45);
        let cov = &a * a.transpose() + DMatrix::identity(WHITENING_DIMS, WHITENING_DIMS) * 0.1;
        let f = whitening_filters(&cov, 5).unwrap();
        let fm = DMatrix::from_fn(5, WHITENING_DIMS, |k, i| f64::from(f[k * WHITENING_DIMS + i]));
        let out = &fm * &cov * fm.transpose();
        for i in 0..5 {
            for j in 0..5 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((out[(i, j)] - want).abs() < 1e-2, "({i}, {j}): {}", out[(i, j)]);
            }
        }
        assert!(whitening_filters(&cov, 0).is_err() && whitening_filters(&cov, 28).is_err());
    }
}

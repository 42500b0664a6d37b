//! Batches from a [`Dataset`]: augmentation (random crop with zero padding, horizontal flip,
//! cutout) and Gaussian noise, all driven by a seeded RNG, then normalisation with the model's
//! mean and std. Everything works on the compact `u8` CHW images.
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::data::Dataset;
use crate::preprocess::InputSpec;

/// The augmentation of training images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Random crop of the image padded with `pad` black pixels on every side (0: off).
    pub pad: usize,
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// Side of a square set to zero after normalisation (the mean colour), centred at a random
    /// pixel and clipped at the border (0: off).
    pub cutout: usize,
}

impl Augment {
    /// Crop with padding 4 and flip: the usual CIFAR recipe.
    pub const STANDARD: Augment = Augment { pad: 4, flip: true, cutout: 0 };
    pub const NONE: Augment = Augment { pad: 0, flip: false, cutout: 0 };
}

/// An RNG for one purpose, derived from the run's seed: the same (seed, stream, index) always
/// gives the same numbers, so an epoch can be replayed without saving RNG state.
pub fn derived_rng(seed: u64, stream: &str, index: u64) -> StdRng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in stream.bytes().chain(index.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    StdRng::seed_from_u64(h)
}

/// Shift a CHW image: `out(y, x) = src(y + dy, x + dx)`, zero outside. This is a crop of the
/// image padded by `pad` at offset (pad + dy, pad + dx).
pub fn shift(src: &[u8], channels: usize, h: usize, w: usize, dy: isize, dx: isize, out: &mut [u8]) {
    let plane = h * w;
    for c in 0..channels {
        let (s, o) = (&src[c * plane..(c + 1) * plane], &mut out[c * plane..(c + 1) * plane]);
        for y in 0..h {
            let row = &mut o[y * w..(y + 1) * w];
            let sy = y as isize + dy;
            if sy < 0 || sy >= h as isize {
                row.fill(0);
                continue;
            }
            let srow = &s[sy as usize * w..(sy as usize + 1) * w];
            for (x, v) in row.iter_mut().enumerate() {
                let sx = x as isize + dx;
                *v = if sx < 0 || sx >= w as isize { 0 } else { srow[sx as usize] };
            }
        }
    }
}

/// Mirror a CHW image left-right in place.
pub fn hflip(img: &mut [u8], w: usize) {
    for row in img.chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Augment one image into `out` (same size).
pub fn augment_image(src: &[u8], channels: usize, h: usize, w: usize, aug: &Augment, rng: &mut impl Rng, out: &mut [u8]) {
    if aug.pad > 0 {
        let p = aug.pad as i64;
        let dy = rng.random_range(-p..=p) as isize;
        let dx = rng.random_range(-p..=p) as isize;
        shift(src, channels, h, w, dy, dx, out);
    } else {
        out.copy_from_slice(src);
    }
    if aug.flip && rng.random_bool(0.5) {
        hflip(out, w);
    }
}

/// A standard normal sample (Box–Muller).
pub fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// A batch ready for the model: `x` is B×C×H×W normalised, `y` the labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub y: Vec<u32>,
    pub shape: (usize, usize, usize, usize),
}

/// What happens to the images of a batch on the way in.
pub enum Transform<'a, R: Rng> {
    /// As stored.
    None,
    /// Training augmentation.
    Augment(&'a Augment, &'a mut R),
    /// Gaussian noise of this σ added to the [0, 1] image, then clipped to [0, 1].
    Noise(f32, &'a mut R),
}

/// Assemble the images `indices` into a normalised batch.
pub fn make_batch<R: Rng>(ds: &Dataset, indices: &[usize], spec: &InputSpec, transform: Transform<R>) -> Batch {
    let (c, h, w) = (ds.channels, ds.height, ds.width);
    let len = ds.image_len();
    let plane = h * w;
    // Per channel: byte → normalised value.
    let lut: Vec<[f32; 256]> = (0..c).map(|ch| std::array::from_fn(|p| (p as f32 / 255.0 - spec.mean[ch]) / spec.std[ch])).collect();
    let mut x = vec![0f32; indices.len() * len];
    let mut buf = vec![0u8; len];
    let mut transform = transform;
    for (b, &i) in indices.iter().enumerate() {
        let src = ds.image(i);
        let out = &mut x[b * len..(b + 1) * len];
        match &mut transform {
            Transform::None => {
                for (k, (o, &p)) in out.iter_mut().zip(src).enumerate() {
                    *o = lut[k / plane][p as usize];
                }
            }
            Transform::Augment(aug, rng) => {
                augment_image(src, c, h, w, aug, rng, &mut buf);
                for (k, (o, &p)) in out.iter_mut().zip(&buf).enumerate() {
                    *o = lut[k / plane][p as usize];
                }
                if aug.cutout > 0 {
                    let (cy, cx) = (rng.random_range(0..h) as isize, rng.random_range(0..w) as isize);
                    let half = (aug.cutout / 2) as isize;
                    let (y0, y1) = ((cy - half).max(0) as usize, ((cy - half + aug.cutout as isize).min(h as isize)) as usize);
                    let (x0, x1) = ((cx - half).max(0) as usize, ((cx - half + aug.cutout as isize).min(w as isize)) as usize);
                    for ch in 0..c {
                        for y in y0..y1 {
                            out[ch * plane + y * w + x0..ch * plane + y * w + x1].fill(0.0);
                        }
                    }
                }
            }
            Transform::Noise(sigma, rng) => {
                for (k, (o, &p)) in out.iter_mut().zip(src).enumerate() {
                    let ch = k / plane;
                    let v = (p as f32 / 255.0 + *sigma * normal(*rng)).clamp(0.0, 1.0);
                    *o = (v - spec.mean[ch]) / spec.std[ch];
                }
            }
        }
    }
    Batch { x, y: indices.iter().map(|&i| ds.labels[i]).collect(), shape: (indices.len(), c, h, w) }
}

//! Data sets for training and evaluation, decoded once into compact memory: one contiguous `u8`
//! buffer, CHW per image, already at the model's input size and channel count.
//!
//! Formats, detected from what is in the path:
//! - image folders: `<root>/<split>/<class>/*.{jpg,jpeg,png}` (split `train`, and `test` or `val`);
//! - the official CIFAR-10 binary release (`data_batch_{1..5}.bin`, `test_batch.bin`);
//! - the official CIFAR-100 binary release (`train.bin`, `test.bin`; the fine labels are used);
//! - IDX files as MNIST / Fashion-MNIST ship them, gzipped or not
//!   (`train-images-idx3-ubyte(.gz)`, `train-labels-idx1-ubyte(.gz)`, `t10k-...`).
//!
//! When the path holds none of these but exactly one folder, that folder is tried (an unpacked
//! archive usually adds one level). Every image goes through [`crate::preprocess::prepare`], so
//! training, evaluation and `gattanet inspect` see the same pixels.
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::{DynamicImage, GrayImage, RgbImage};

use crate::preprocess::{self, InputSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    ImageFolder,
    Cifar10,
    Cifar100,
    Idx,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Format::ImageFolder => "image folders",
            Format::Cifar10 => "CIFAR-10 binary",
            Format::Cifar100 => "CIFAR-100 binary",
            Format::Idx => "IDX",
        })
    }
}

/// A decoded data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `len() × channels × height × width` bytes, CHW per image.
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Class names in label order.
    pub classes: Vec<String>,
    pub format: Format,
    /// Files that could not be read (left out), with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Image `i`, CHW.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The first `n` images (or all).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.pixels.truncate(n * self.image_len());
        }
    }

    /// A 64-bit FNV-1a hash of the labels and pixels, to tell whether a resumed run sees the same data.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        for &l in &self.labels {
            l.to_le_bytes().into_iter().for_each(&mut eat);
        }
        // Every 7th byte is plenty to notice a different set, and 7x faster.
        self.pixels.iter().step_by(7).for_each(|&b| eat(b));
        h
    }

    /// One line: how many images, classes and what was skipped.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} images, {} classes, {}x{}x{} ({})",
            self.len(),
            self.classes.len(),
            self.channels,
            self.height,
            self.width,
            self.format
        );
        if !self.skipped.is_empty() {
            s += &format!("; skipped {} unreadable file(s)", self.skipped.len());
        }
        s
    }
}

/// What the model needs from the data.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The model's input: size and channels (mean/std are not applied here).
    pub input: InputSpec,
    /// Class names in label order; for image folders they fix the label of each folder.
    /// None: sorted folder names (image folders) or the data set's own names.
    pub classes: Option<Vec<String>>,
    /// Use only this many images (image folders: taken round-robin over the classes).
    pub limit: Option<usize>,
    /// Decoding threads (0: all cores).
    pub threads: usize,
}

impl LoadOptions {
    pub fn new(input: InputSpec) -> Self {
        LoadOptions { input, classes: None, limit: None, threads: 0 }
    }

    fn threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Names the IDX files may have (`{split}` is `train` or `t10k`).
const IDX_IMAGES: [&str; 2] = ["{split}-images-idx3-ubyte", "{split}-images.idx3-ubyte"];
const IDX_LABELS: [&str; 2] = ["{split}-labels-idx1-ubyte", "{split}-labels.idx1-ubyte"];

/// Find the format of the data at `path` and the folder that holds it.
pub fn detect(path: &Path) -> Result<(Format, PathBuf)> {
    if !path.exists() {
        bail!("data path {} does not exist", path.display());
    }
    if !path.is_dir() {
        bail!("data path {} is a file; expected a folder (image folders, CIFAR binary batches or IDX files)", path.display());
    }
    if let Some(format) = detect_here(path) {
        return Ok((format, path.to_path_buf()));
    }
    let subdirs: Vec<PathBuf> = read_dir_sorted(path)?.into_iter().filter(|p| p.is_dir()).collect();
    if let [only] = subdirs.as_slice() {
        if let Some(format) = detect_here(only) {
            return Ok((format, only.clone()));
        }
    }
    bail!(
        "no data set found in {}: expected `train/` and `test/` folders of class folders, CIFAR-10 \
         `data_batch_*.bin`/`test_batch.bin`, CIFAR-100 `train.bin`/`test.bin`, or IDX \
         `train-images-idx3-ubyte(.gz)` files",
        path.display()
    )
}

fn detect_here(dir: &Path) -> Option<Format> {
    let has = |name: &str| dir.join(name).is_file();
    if has("data_batch_1.bin") || has("test_batch.bin") {
        Some(Format::Cifar10)
    } else if has("train.bin") || has("test.bin") {
        Some(Format::Cifar100)
    } else if ["train", "t10k"].iter().any(|s| find_idx(dir, &IDX_IMAGES, s).is_some()) {
        Some(Format::Idx)
    } else if dir.join("train").is_dir() || dir.join("test").is_dir() {
        Some(Format::ImageFolder)
    } else {
        None
    }
}

fn find_idx(dir: &Path, patterns: &[&str], split: &str) -> Option<PathBuf> {
    patterns
        .iter()
        .flat_map(|p| {
            let name = p.replace("{split}", split);
            [dir.join(format!("{name}.gz")), dir.join(name)]
        })
        .find(|p| p.is_file())
}

/// Load one split of the data set at `path`.
pub fn load(path: &Path, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    let (format, root) = detect(path)?;
    let mut ds = match format {
        Format::ImageFolder => load_image_folder(&root, split, opts)?,
        Format::Cifar10 | Format::Cifar100 => load_cifar(&root, format, split, opts)?,
        Format::Idx => load_idx(&root, split, opts)?,
    };
    ds.format = format;
    if ds.is_empty() {
        bail!("the {split} split of {} holds no readable images", root.display());
    }
    Ok(ds)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("cannot read folder {}", dir.display()))?;
    entries.sort();
    Ok(entries)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Image folders

fn load_image_folder(root: &Path, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    let candidates: &[&str] = match split {
        Split::Train => &["train"],
        Split::Test => &["test", "val", "valid", "validation"],
    };
    let Some(dir) = candidates.iter().map(|c| root.join(c)).find(|d| d.is_dir()) else {
        bail!("no `{}` folder in {} (the {split} split of an image-folder data set)", candidates[0], root.display());
    };
    let folders: Vec<PathBuf> = read_dir_sorted(&dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if folders.is_empty() {
        bail!("{} has no class folders (expected {}/<class>/*.jpg)", dir.display(), dir.display());
    }
    let classes: Vec<String> = match &opts.classes {
        Some(c) => c.clone(),
        None => folders.iter().map(|f| file_name(f)).collect(),
    };
    // Files of each class, sorted by name.
    let mut per_class: Vec<Vec<PathBuf>> = vec![Vec::new(); classes.len()];
    for folder in &folders {
        let name = file_name(folder);
        let Some(label) = classes.iter().position(|c| *c == name) else {
            bail!(
                "folder {} is not one of the model's classes ({}); rename it or fix `classes` in the config",
                folder.display(),
                classes.join(", ")
            );
        };
        per_class[label] = read_dir_sorted(folder)?
            .into_iter()
            .filter(|p| {
                p.is_file() && p.extension().is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
            })
            .collect();
    }
    // Round-robin over the classes, so a --limit keeps them balanced.
    let mut files: Vec<(PathBuf, u32)> = Vec::new();
    let longest = per_class.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for (label, list) in per_class.iter().enumerate() {
            if let Some(p) = list.get(i) {
                files.push((p.clone(), label as u32));
            }
        }
    }
    if files.is_empty() {
        bail!("no .jpg, .jpeg or .png files under {}", dir.display());
    }
    if let Some(limit) = opts.limit {
        files.truncate(limit);
    }
    let spec = &opts.input;
    let [h, w] = spec.size;
    let len = spec.channels * h * w;
    let mut pixels = vec![0u8; files.len() * len];
    let errors = par_fill(&mut pixels, len, opts.threads(), |i, out| {
        let bytes = std::fs::read(&files[i].0).map_err(|e| e.to_string())?;
        let img = preprocess::decode(&bytes).map_err(|e| e.to_string())?;
        to_model_pixels(&img, spec, out).map_err(|e| e.to_string())
    });
    let mut ds = Dataset {
        pixels,
        labels: files.iter().map(|f| f.1).collect(),
        channels: spec.channels,
        height: h,
        width: w,
        classes,
        format: Format::ImageFolder,
        skipped: Vec::new(),
    };
    drop_failed(&mut ds, &errors);
    ds.skipped = errors.into_iter().map(|(i, e)| (files[i].0.clone(), e)).collect();
    Ok(ds)
}

/// Fill `out` (n images of `len` bytes) in parallel; returns the (index, error) of the failures.
fn par_fill<F>(out: &mut [u8], len: usize, threads: usize, f: F) -> Vec<(usize, String)>
where
    F: Fn(usize, &mut [u8]) -> std::result::Result<(), String> + Sync,
{
    let n = out.len() / len.max(1);
    if n == 0 {
        return Vec::new();
    }
    let per_thread = n.div_ceil(threads.max(1));
    let f = &f;
    let mut errors: Vec<(usize, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = out
            .chunks_mut(per_thread * len)
            .enumerate()
            .map(|(t, chunk)| {
                s.spawn(move || {
                    let mut errors = Vec::new();
                    for (j, img) in chunk.chunks_mut(len).enumerate() {
                        let i = t * per_thread + j;
                        // A decoder that panics on a hostile file loses that file, not the load.
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i, img))) {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => errors.push((i, e)),
                            Err(panic) => errors.push((i, format!("the decoder failed ({})", panic_message(&panic)))),
                        }
                    }
                    errors
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("decoder thread panicked")).collect()
    });
    errors.sort_by_key(|e| e.0);
    errors
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str)).unwrap_or("panic")
}

/// Remove the images whose indices failed (sorted), keeping order.
fn drop_failed(ds: &mut Dataset, failed: &[(usize, String)]) {
    if failed.is_empty() {
        return;
    }
    let len = ds.image_len();
    let mut keep = 0;
    let mut next_failed = failed.iter().map(|f| f.0).peekable();
    for i in 0..ds.labels.len() {
        if next_failed.peek() == Some(&i) {
            next_failed.next();
            continue;
        }
        if keep != i {
            ds.pixels.copy_within(i * len..(i + 1) * len, keep * len);
            ds.labels[keep] = ds.labels[i];
        }
        keep += 1;
    }
    ds.truncate(keep);
}

/// An image as the model sees it (decoded image → resize/crop → RGB or gray), written CHW into `out`.
fn to_model_pixels(img: &DynamicImage, spec: &InputSpec, out: &mut [u8]) -> crate::Result<()> {
    let prepared = preprocess::prepare(img, spec)?;
    let view = &prepared.view;
    let plane = view.width() as usize * view.height() as usize;
    for (i, p) in view.pixels().enumerate() {
        // One-channel specs: `prepare` has already put the luma in all three.
        for c in 0..spec.channels {
            out[c * plane + i] = p.0[c];
        }
    }
    Ok(())
}

/// Raw images of a binary format (CHW, `[channels, h, w]` each) converted to the model's input.
fn convert_raw(
    raw: &[u8],
    [channels, h, w]: [usize; 3],
    labels: Vec<u32>,
    classes: Vec<String>,
    format: Format,
    opts: &LoadOptions,
) -> Result<Dataset> {
    let spec = &opts.input;
    let [mh, mw] = spec.size;
    let len = spec.channels * mh * mw;
    let n = labels.len();
    let src_len = channels * h * w;
    let mut pixels = vec![0u8; n * len];
    let errors = par_fill(&mut pixels, len, opts.threads(), |i, out| {
        let src = &raw[i * src_len..(i + 1) * src_len];
        let img = if channels == 1 {
            DynamicImage::ImageLuma8(GrayImage::from_raw(w as u32, h as u32, src.to_vec()).expect("sized"))
        } else {
            let plane = h * w;
            let hwc: Vec<u8> = (0..plane).flat_map(|p| [src[p], src[plane + p], src[2 * plane + p]]).collect();
            DynamicImage::ImageRgb8(RgbImage::from_raw(w as u32, h as u32, hwc).expect("sized"))
        };
        to_model_pixels(&img, spec, out).map_err(|e| e.to_string())
    });
    if let Some((i, e)) = errors.first() {
        bail!("image {i}: {e}");
    }
    Ok(Dataset { pixels, labels, channels: spec.channels, height: mh, width: mw, classes, format, skipped: Vec::new() })
}

/// The class names: the model's (checked against the data's count) or the data's own.
fn class_names(opts: &LoadOptions, own: Vec<String>, source: &Path) -> Result<Vec<String>> {
    match &opts.classes {
        Some(c) if c.len() != own.len() => bail!(
            "{} has {} classes but the model has {}; a model for this data set needs {} entries in `classes`",
            source.display(),
            own.len(),
            c.len(),
            own.len()
        ),
        Some(c) => Ok(c.clone()),
        None => Ok(own),
    }
}

fn check_labels(labels: &[u32], classes: usize, source: &Path) -> Result<()> {
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        bail!("{}: image {i} has label {l}, but there are only {classes} classes", source.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CIFAR binary

pub const CIFAR10_CLASSES: [&str; 10] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

fn load_cifar(root: &Path, format: Format, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    let (files, label_bytes, n_classes, meta): (Vec<PathBuf>, usize, usize, &str) = match (format, split) {
        (Format::Cifar10, Split::Train) => {
            let files: Vec<PathBuf> = (1..=5).map(|i| root.join(format!("data_batch_{i}.bin"))).filter(|p| p.is_file()).collect();
            (files, 1, 10, "batches.meta.txt")
        }
        (Format::Cifar10, Split::Test) => (vec![root.join("test_batch.bin")], 1, 10, "batches.meta.txt"),
        (_, Split::Train) => (vec![root.join("train.bin")], 2, 100, "fine_label_names.txt"),
        (_, Split::Test) => (vec![root.join("test.bin")], 2, 100, "fine_label_names.txt"),
    };
    if files.is_empty() || !files.iter().all(|f| f.is_file()) {
        let want = if format == Format::Cifar10 && split == Split::Train {
            "data_batch_1.bin .. data_batch_5.bin".to_string()
        } else {
            file_name(&files[0])
        };
        bail!("{} has no {want} (the {split} split of the {format} release)", root.display());
    }
    let record = label_bytes + 3072;
    let mut raw = Vec::new();
    let mut labels = Vec::new();
    'files: for f in &files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            bail!(
                "{} is not a {format} file: its size {} is not a multiple of the record size {record} ({label_bytes} label byte(s) + 3072 pixels)",
                f.display(),
                bytes.len()
            );
        }
        for rec in bytes.chunks_exact(record) {
            if opts.limit.is_some_and(|l| labels.len() >= l) {
                break 'files;
            }
            // CIFAR-100: coarse label, then fine label.
            labels.push(u32::from(rec[label_bytes - 1]));
            raw.extend_from_slice(&rec[label_bytes..]);
        }
    }
    let own = std::fs::read_to_string(root.join(meta))
        .ok()
        .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect::<Vec<_>>())
        .filter(|names| names.len() == n_classes)
        .unwrap_or_else(|| {
            if n_classes == 10 {
                CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
            } else {
                (0..n_classes).map(|i| format!("class{i}")).collect()
            }
        });
    let classes = class_names(opts, own, root)?;
    check_labels(&labels, classes.len(), &files[0])?;
    convert_raw(&raw, [3, 32, 32], labels, classes, format, opts)
}

// ---------------------------------------------------------------------------------------------
// IDX

/// The largest data file we inflate (the largest IDX file, EMNIST's, is 0.7 GB).
const MAX_INFLATED_BYTES: u64 = 2 << 30;

/// Read a whole file, gunzipping it when it starts with the gzip magic bytes. A gzip file may
/// inflate to the size its trailer declares (ISIZE), and never past `MAX_INFLATED_BYTES`: a small
/// hostile file cannot exhaust the memory.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let declared = match bytes.len() {
        n if n >= 18 => u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes")) as u64,
        _ => anyhow::bail!("{}: truncated gzip file ({} bytes)", path.display(), bytes.len()),
    };
    anyhow::ensure!(
        declared <= MAX_INFLATED_BYTES,
        "{}: declares {declared} bytes once inflated, more than the {} MB a data file may have",
        path.display(),
        MAX_INFLATED_BYTES >> 20
    );
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .take(declared + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("{}: corrupt gzip data", path.display()))?;
    anyhow::ensure!(
        out.len() as u64 == declared,
        "{}: does not inflate to the {declared} bytes its trailer declares (corrupt, or several gzip members)",
        path.display()
    );
    Ok(out)
}

/// Parse an IDX file of unsigned bytes: (dimensions, data).
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let bad = |why: String| anyhow::anyhow!("{} is not a valid IDX file: {why}", path.display());
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad("it does not start with the IDX magic number (0x00 0x00 type ndims)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!("element type 0x{:02x}; only unsigned bytes (0x08) are supported", bytes[2])));
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if ndims == 0 || bytes.len() < header {
        return Err(bad("truncated header".into()));
    }
    let dims: Vec<usize> =
        (0..ndims).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize).collect();
    if dims.contains(&0) {
        return Err(bad(format!("a dimension of {dims:?} is 0")));
    }
    let count =
        dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| bad(format!("the dimensions {dims:?} are too large")))?;
    if bytes.len() - header != count {
        return Err(bad(format!("the header says {dims:?} = {count} bytes of data, the file has {}", bytes.len() - header)));
    }
    Ok((dims, bytes[header..].to_vec()))
}

fn load_idx(root: &Path, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = find_idx(root, &IDX_IMAGES, prefix)
        .with_context(|| format!("{} has no {prefix}-images-idx3-ubyte(.gz) (the {split} split)", root.display()))?;
    let labels_path = find_idx(root, &IDX_LABELS, prefix)
        .with_context(|| format!("{} has no {prefix}-labels-idx1-ubyte(.gz) (the {split} split)", root.display()))?;
    let (dims, mut raw) = parse_idx(&read_maybe_gz(&images)?, &images)?;
    let (ldims, labels) = parse_idx(&read_maybe_gz(&labels_path)?, &labels_path)?;
    let (n, h, w, c) = match dims.as_slice() {
        [n, h, w] => (*n, *h, *w, 1),
        [n, h, w, 3] => (*n, *h, *w, 3), // HWC colour images
        _ => bail!("{}: expected images of shape (n, rows, cols), found {dims:?}", images.display()),
    };
    if ldims.len() != 1 {
        bail!("{}: expected labels of shape (n), found {ldims:?}", labels_path.display());
    }
    if ldims[0] != n {
        bail!(
            "{} has {n} images but {} has {} labels; the two files must belong together",
            images.display(),
            labels_path.display(),
            ldims[0]
        );
    }
    if c == 3 {
        // HWC → CHW, as the converter expects.
        let plane = h * w;
        raw = raw.chunks_exact(plane * 3).flat_map(|img| (0..3).flat_map(move |ch| (0..plane).map(move |p| img[p * 3 + ch]))).collect();
    }
    let mut labels: Vec<u32> = labels.into_iter().map(u32::from).collect();
    if let Some(l) = opts.limit {
        labels.truncate(l);
        raw.truncate(labels.len() * c * h * w);
    }
    let n_classes = labels.iter().max().map_or(0, |&m| m as usize + 1).max(2);
    let own = match &opts.classes {
        Some(c) => c.clone(),
        None => (0..n_classes.max(10)).map(|i| i.to_string()).collect(),
    };
    check_labels(&labels, own.len(), &labels_path)?;
    convert_raw(&raw, [c, h, w], labels, own, Format::Idx, opts)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panicking_decoder_loses_one_image_not_the_load() {
        let mut out = vec![0u8; 5 * 2];
        let errors = super::par_fill(&mut out, 2, 2, |i, img| {
            assert!(i != 3, "hostile file");
            img.fill(i as u8 + 1);
            Ok(())
        });
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 3);
        assert!(errors[0].1.contains("hostile file"), "{}", errors[0].1);
        assert_eq!(out, [1, 1, 2, 2, 3, 3, 0, 0, 5, 5]);
    }
}

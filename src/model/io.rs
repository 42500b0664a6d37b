//! Loading and saving a model directory: `config.json` + `model.safetensors`.
//! Weights are checked against the config before the model is built, so a wrong file fails
//! with the tensor's name and the expected vs found shape, never with a panic.
use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::{Model, ModelConfig, DTYPE};
use crate::error::{Error, Result};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// A freshly initialised model and the variables behind it (for training and tests).
pub fn init(config: &ModelConfig, device: &Device) -> Result<(Model, VarMap)> {
    config.validate()?;
    let varmap = VarMap::new();
    let model = Model::new(config, VarBuilder::from_varmap(&varmap, DTYPE, device))?;
    Ok((model, varmap))
}

/// Every tensor name the config needs, with its shape (from the graph: nothing is allocated).
pub fn expected_tensors(config: &ModelConfig) -> Result<BTreeMap<String, Vec<usize>>> {
    config.validate()?;
    Ok(config.graph().weights.into_iter().map(|w| (w.name, w.shape)).collect())
}

/// How `model.safetensors` stores the weights. The model always computes in f32; storage only
/// decides the download size and the rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    F32,
    F16,
    /// Large weight matrices (rank ≥ 2, at least [`INT8_MIN_ELEMS`] values) as int8 with one f32
    /// scale per output row in `<name>.qscale` (value = int8 · scale, symmetric); the rest f16.
    Int8,
}

/// The largest model file we ship (and the trainer's default storage aims under).
pub const MODEL_LIMIT_BYTES: usize = 5 * 1000 * 1000;

/// Smaller tensors gain nothing from int8: their scales would cost as much as they save.
pub const INT8_MIN_ELEMS: usize = 4096;
const QSCALE: &str = ".qscale";

impl Storage {
    pub fn name(self) -> &'static str {
        match self {
            Storage::F32 => "f32",
            Storage::F16 => "f16",
            Storage::Int8 => "int8",
        }
    }

    pub fn parse(s: &str) -> Option<Storage> {
        [Storage::F32, Storage::F16, Storage::Int8].into_iter().find(|d| d.name() == s)
    }

    /// The smallest-loss storage whose file stays within `limit` bytes (int8 if none does).
    pub fn fitting(tensors: &HashMap<String, Tensor>, limit: usize) -> Storage {
        let elems: usize = tensors.values().map(|t| t.elem_count()).sum();
        if 2 * elems <= limit {
            Storage::F16
        } else {
            Storage::Int8
        }
    }
}

/// A tensor decoded to f32: (shape, values in row-major order).
pub type Decoded = (Vec<usize>, Vec<f32>);

/// Every tensor the config needs, read from safetensors bytes and decoded to f32, checked by
/// name, shape and type. The one reader behind both executors (candle and WebGPU).
pub fn read_tensors(config: &ModelConfig, bytes: &[u8]) -> Result<BTreeMap<String, Decoded>> {
    let expected = expected_tensors(config)?; // validates the config first
    let st =
        safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::io(WEIGHTS_FILE, format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    let mut scales = Vec::new();
    for (name, shape) in &expected {
        let view =
            st.tensor(name).map_err(|_| Error::weights(name, format!("missing from the weights file (expected shape {shape:?})")))?;
        if view.shape() != shape.as_slice() {
            return Err(Error::weights(name, format!("expected shape {shape:?}, found {:?}", view.shape())));
        }
        let values = match decode_float(&view) {
            Some(v) => v,
            None if view.dtype() == safetensors::Dtype::I8 => {
                let scale_name = format!("{name}{QSCALE}");
                let scale = st.tensor(&scale_name).ok().filter(|s| s.shape() == [shape[0]]).and_then(|s| decode_float(&s));
                let scale = scale.ok_or_else(|| {
                    Error::weights(name, format!("int8 weights need a float tensor {scale_name} of shape [{}]", shape[0]))
                })?;
                let row = view.data().len() / shape[0];
                scales.push(scale_name);
                view.data().iter().enumerate().map(|(i, &q)| q as i8 as f32 * scale[i / row]).collect()
            }
            None => return Err(Error::weights(name, format!("expected a float tensor, found {:?}", view.dtype()))),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::weights(name, format!("value {i} is {}: weights must be finite numbers", values[i])));
        }
        out.insert(name.clone(), (shape.clone(), values));
    }
    let mut extra: Vec<_> = st.names().into_iter().filter(|k| !expected.contains_key(*k) && !scales.iter().any(|s| s == *k)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(Error::weights(
            *name,
            format!("not used by this config ({} unexpected tensors; does config.json belong to these weights?)", extra.len()),
        ));
    }
    Ok(out)
}

fn decode_float(view: &safetensors::tensor::TensorView) -> Option<Vec<f32>> {
    use half::{bf16, f16};
    let b = view.data();
    Some(match view.dtype() {
        safetensors::Dtype::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        safetensors::Dtype::F16 => b.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        safetensors::Dtype::BF16 => b.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => return None,
    })
}

/// Build a model from a config and safetensors bytes (f32, f16, bf16 or int8 stored; computed in f32).
pub fn from_bytes(config: &ModelConfig, safetensors: &[u8], device: &Device) -> Result<Model> {
    let tensors = tensors_from_bytes(config, safetensors, device)?;
    Ok(Model::new(config, VarBuilder::from_tensors(tensors, DTYPE, device))?)
}

/// The checked tensors of a safetensors file as f32 candle tensors (e.g. to store them anew).
pub fn tensors_from_bytes(config: &ModelConfig, safetensors: &[u8], device: &Device) -> Result<HashMap<String, Tensor>> {
    read_tensors(config, safetensors)?.into_iter().map(|(k, (shape, v))| Ok((k, Tensor::from_vec(v, shape, device)?))).collect()
}

/// Serialise tensors to safetensors bytes (F32 for checkpoints, F16 or Int8 for smaller downloads).
pub fn to_safetensors(tensors: &HashMap<String, Tensor>, storage: Storage) -> Result<Vec<u8>> {
    let mut out: Vec<(String, Tensor)> = Vec::new();
    for (name, t) in tensors {
        match storage {
            Storage::F32 => out.push((name.clone(), t.to_dtype(DType::F32)?)),
            Storage::Int8 if t.rank() >= 2 && t.elem_count() >= INT8_MIN_ELEMS => {
                let (q, scale) = quantize_rows(t)?;
                out.push((name.clone(), q));
                out.push((format!("{name}{QSCALE}"), scale));
            }
            Storage::F16 | Storage::Int8 => {
                // f16 tops out at 65504: larger values would be stored as ±∞
                let max = match t.elem_count() {
                    0 => 0.0,
                    _ => t.to_dtype(DType::F32)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?,
                };
                if max > half::f16::MAX.to_f32() {
                    return Err(Error::weights(name, format!("holds {max}, beyond f16's largest value 65504: store it as f32")));
                }
                out.push((name.clone(), t.to_dtype(DType::F16)?))
            }
        }
    }
    let views: Vec<(String, RawView)> = out.iter().map(|(k, t)| Ok((k.clone(), RawView::of(t)?))).collect::<Result<_>>()?;
    safetensors::serialize(views.iter().map(|(k, v)| (k.as_str(), v)), None).map_err(|e| Error::io(WEIGHTS_FILE, e))
}

/// Symmetric per-row int8: scale = max |w| / 127 over the row. Returns the int8 bit patterns in a
/// U8 tensor (candle has no i8) and the scales. Rounding error ≤ scale / 2 per weight.
fn quantize_rows(t: &Tensor) -> Result<(Tensor, Tensor)> {
    let rows = t.dim(0)?;
    let flat = t.to_dtype(DType::F32)?.reshape((rows, ()))?.to_vec2::<f32>()?;
    let mut bytes = Vec::with_capacity(t.elem_count());
    let mut scales = Vec::with_capacity(rows);
    for row in &flat {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        bytes.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8 as u8));
        scales.push(scale);
    }
    Ok((Tensor::from_vec(bytes, t.dims(), t.device())?, Tensor::from_vec(scales, rows, t.device())?))
}

/// A tensor's bytes for the safetensors writer; U8 tensors are written as I8 (see `quantize_rows`).
struct RawView {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl RawView {
    fn of(t: &Tensor) -> Result<RawView> {
        let shape = t.dims().to_vec();
        let flat = t.flatten_all()?;
        let (dtype, data) = match t.dtype() {
            DType::F32 => (safetensors::Dtype::F32, flat.to_vec1::<f32>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
            DType::F16 => (safetensors::Dtype::F16, flat.to_vec1::<half::f16>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
            DType::U8 => (safetensors::Dtype::I8, flat.to_vec1::<u8>()?),
            other => return Err(Error::weights("(writer)", format!("cannot store {other:?}"))),
        };
        Ok(RawView { dtype, shape, data })
    }
}

impl safetensors::View for &RawView {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// The variables of a VarMap as plain tensors.
pub fn varmap_tensors(varmap: &VarMap) -> HashMap<String, Tensor> {
    let data = varmap.data().lock().expect("varmap lock");
    data.iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect()
}

#[cfg(not(target_arch = "wasm32"))]
mod fs {
    use std::path::Path;

    use super::*;

    pub fn read_config(dir: &Path) -> Result<ModelConfig> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        ModelConfig::from_json(&text).map_err(|e| match e {
            Error::Config { field, reason } => Error::Config { field: format!("{}: {field}", path.display()), reason },
            other => other,
        })
    }

    /// Load `dir/config.json` + `dir/model.safetensors`.
    pub fn load_dir(dir: &Path, device: &Device) -> Result<Model> {
        if !dir.is_dir() {
            return Err(Error::io(dir, "not a model directory (expected config.json and model.safetensors in it)"));
        }
        let config = read_config(dir)?;
        let path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        from_bytes(&config, &bytes, device)
    }

    /// Write a model directory.
    pub fn save_dir(dir: &Path, config: &ModelConfig, tensors: &HashMap<String, Tensor>, storage: Storage) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(CONFIG_FILE);
        std::fs::write(&path, config.to_json()).map_err(|e| Error::io(&path, e))?;
        let path = dir.join(WEIGHTS_FILE);
        std::fs::write(&path, to_safetensors(tensors, storage)?).map_err(|e| Error::io(&path, e))
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use fs::{load_dir, read_config, save_dir};

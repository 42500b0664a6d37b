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

/// Every tensor name the config needs, with its shape.
pub fn expected_tensors(config: &ModelConfig) -> Result<BTreeMap<String, Vec<usize>>> {
    let (_, varmap) = init(config, &Device::Cpu)?;
    let data = varmap.data().lock().expect("varmap lock");
    Ok(data.iter().map(|(k, v)| (k.clone(), v.dims().to_vec())).collect())
}

/// Build a model from a config and safetensors bytes (f32, f16 or bf16 stored; computed in f32).
pub fn from_bytes(config: &ModelConfig, safetensors: &[u8], device: &Device) -> Result<Model> {
    config.validate()?;
    let tensors = candle_core::safetensors::load_buffer(safetensors, device)
        .map_err(|e| Error::io(WEIGHTS_FILE, format!("not a valid safetensors file: {e}")))?;
    check_tensors(config, &tensors)?;
    let tensors = tensors.into_iter().map(|(k, t)| Ok((k, t.to_dtype(DTYPE)?))).collect::<Result<HashMap<_, _>>>()?;
    Ok(Model::new(config, VarBuilder::from_tensors(tensors, DTYPE, device))?)
}

fn check_tensors(config: &ModelConfig, found: &HashMap<String, Tensor>) -> Result<()> {
    let expected = expected_tensors(config)?;
    for (name, shape) in &expected {
        let Some(t) = found.get(name) else {
            return Err(Error::weights(name, format!("missing from the weights file (expected shape {shape:?})")));
        };
        if t.dims() != shape.as_slice() {
            return Err(Error::weights(name, format!("expected shape {shape:?}, found {:?}", t.dims())));
        }
        if !matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16) {
            return Err(Error::weights(name, format!("expected a float tensor, found {:?}", t.dtype())));
        }
    }
    let mut extra: Vec<_> = found.keys().filter(|k| !expected.contains_key(*k)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(Error::weights(
            *name,
            format!("not used by this config ({} unexpected tensors; does config.json belong to these weights?)", extra.len()),
        ));
    }
    Ok(())
}

/// Serialise tensors to safetensors bytes in `dtype` (F32 or F16 for smaller downloads).
pub fn to_safetensors(tensors: &HashMap<String, Tensor>, dtype: DType) -> Result<Vec<u8>> {
    let converted = tensors.iter().map(|(k, t)| Ok((k.clone(), t.to_dtype(dtype)?))).collect::<Result<Vec<_>>>()?;
    safetensors::serialize(converted.iter().map(|(k, t)| (k.as_str(), t)), None)
        .map_err(|e| Error::io(WEIGHTS_FILE, e))
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
    pub fn save_dir(dir: &Path, config: &ModelConfig, tensors: &HashMap<String, Tensor>, dtype: DType) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(CONFIG_FILE);
        std::fs::write(&path, config.to_json()).map_err(|e| Error::io(&path, e))?;
        let path = dir.join(WEIGHTS_FILE);
        std::fs::write(&path, to_safetensors(tensors, dtype)?).map_err(|e| Error::io(&path, e))
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use fs::{load_dir, read_config, save_dir};

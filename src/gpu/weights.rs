//! The model's tensors for the engine: decoded to f32 by the same reader (and the same checks)
//! as the candle loader, `io::read_tensors`; the engine needs nothing from candle but the config.
use std::collections::BTreeMap;

use super::error::GpuError;
use crate::error::Error;
use crate::model::{io, ModelConfig};

pub(crate) struct Weights {
    tensors: BTreeMap<String, io::Decoded>,
}

impl Weights {
    pub fn from_safetensors(config: &ModelConfig, bytes: &[u8]) -> Result<Self, GpuError> {
        Ok(Weights { tensors: io::read_tensors(config, bytes)? })
    }

    pub fn get(&self, name: &str) -> Result<&[f32], GpuError> {
        self.tensors.get(name).map(|(_, d)| d.as_slice()).ok_or_else(|| Error::weights(name, "missing from the weights file").into())
    }

    /// A tensor of shape (1): α, say.
    pub fn scalar(&self, name: &str) -> Result<f32, GpuError> {
        Ok(self.get(name)?[0])
    }
}

//! The model's tensors, read straight from the safetensors bytes by their documented names
//! (README "Tensor names"), converted to f32, and checked against the config with the same rules
//! as the candle loader: the engine needs nothing from the candle model but the config.
use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use super::error::GpuError;
use crate::error::Error;
use crate::model::{io, ModelConfig};

pub(crate) struct Weights {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Weights {
    pub fn from_safetensors(config: &ModelConfig, bytes: &[u8]) -> Result<Self, GpuError> {
        config.validate()?;
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::io(io::WEIGHTS_FILE, format!("not a valid safetensors file: {e}")))?;
        let expected = io::expected_tensors(config)?;
        let mut tensors = HashMap::new();
        for (name, shape) in &expected {
            let view = st
                .tensor(name)
                .map_err(|_| Error::weights(name, format!("missing from the weights file (expected shape {shape:?})")))?;
            if view.shape() != shape.as_slice() {
                return Err(Error::weights(name, format!("expected shape {shape:?}, found {:?}", view.shape())).into());
            }
            let data = to_f32(view.dtype(), view.data()).ok_or_else(|| {
                Error::weights(name, format!("expected a float tensor, found {:?}", view.dtype()))
            })?;
            tensors.insert(name.clone(), (shape.clone(), data));
        }
        let mut extra: Vec<_> = st.names().into_iter().filter(|k| !expected.contains_key(*k)).collect();
        extra.sort();
        if let Some(name) = extra.first() {
            return Err(Error::weights(
                *name,
                format!("not used by this config ({} unexpected tensors; does config.json belong to these weights?)", extra.len()),
            )
            .into());
        }
        Ok(Weights { tensors })
    }

    pub fn get(&self, name: &str) -> Result<&[f32], GpuError> {
        self.tensors
            .get(name)
            .map(|(_, d)| d.as_slice())
            .ok_or_else(|| Error::weights(name, "missing from the weights file").into())
    }

    /// A tensor of shape (1): α, say.
    pub fn scalar(&self, name: &str) -> Result<f32, GpuError> {
        Ok(self.get(name)?[0])
    }
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)).collect(),
        _ => return None,
    })
}

/// IEEE half → single, exact (subnormals, infinities and NaN included).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: value = f · 2^-24
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, f) => sign | 0x7fc0_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}

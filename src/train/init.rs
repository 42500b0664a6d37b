//! Seeded weight initialisation. candle's CPU random generator cannot be seeded, so the model is
//! built through a VarBuilder backend that draws every new variable from an RNG derived from
//! (seed, tensor name), following the same `Init` kind the model code asks for. The result does
//! not depend on the order in which the model creates its variables.
use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};
use rand::Rng;

use super::augment::{derived_rng, normal};
use crate::model::{Model, ModelConfig, DTYPE};

struct Seeded {
    varmap: VarMap,
    seed: u64,
}

/// Values of a fresh tensor of `shape` for `init`.
pub fn sample(init: Init, shape: &Shape, rng: &mut impl Rng) -> Vec<f32> {
    let n = shape.elem_count();
    let uniform = |lo: f64, up: f64, rng: &mut dyn FnMut() -> f64| (0..n).map(|_| (lo + (up - lo) * rng()) as f32).collect();
    match init {
        Init::Const(v) => vec![v as f32; n],
        Init::Uniform { lo, up } => uniform(lo, up, &mut || rng.random::<f64>()),
        Init::Randn { mean, stdev } => (0..n).map(|_| (mean + stdev * f64::from(normal(rng))) as f32).collect(),
        Init::Kaiming { dist, fan, non_linearity } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let b = 3f64.sqrt() * std;
                    uniform(-b, b, &mut || rng.random::<f64>())
                }
                NormalOrUniform::Normal => (0..n).map(|_| (std * f64::from(normal(rng))) as f32).collect(),
            }
        }
    }
}

impl SimpleBackend for Seeded {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut data = self.varmap.data().lock().expect("varmap lock");
        if let Some(v) = data.get(name) {
            if v.shape() != &s {
                candle_core::bail!("shape mismatch on {name}: {s:?} <> {:?}", v.shape());
            }
            return Ok(v.as_tensor().clone());
        }
        let mut rng = derived_rng(self.seed, name, 0);
        let values = sample(h, &s, &mut rng);
        let var = Var::from_tensor(&Tensor::from_vec(values, s, dev)?.to_dtype(dtype)?)?;
        let t = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(t)
    }

    fn get_unchecked(&self, _name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("a seeded VarMap creates variables only with a shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().expect("varmap lock").contains_key(name)
    }
}

/// Like [`crate::model::io::init`], with the weights drawn from `seed`.
pub fn init_seeded(config: &ModelConfig, seed: u64, device: &Device) -> crate::Result<(Model, VarMap)> {
    config.validate()?;
    let varmap = VarMap::new();
    let backend = Seeded { varmap: varmap.clone(), seed };
    let model = Model::new(config, VarBuilder::from_backend(Box::new(backend), DTYPE, device.clone()))?;
    Ok((model, varmap))
}

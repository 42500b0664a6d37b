//! Small building blocks shared by the backbones and heads. Everything is written from
//! differentiable primitives so the same code serves training and inference.
use candle_core::{DType, Result, Tensor, Var, D};
use candle_nn::{init::Init, VarBuilder};

/// Where a forward pass runs: which pass (for per-pass BatchNorm statistics) and train or eval.
#[derive(Debug, Clone, Copy)]
pub struct PassContext {
    pub pass: usize,
    pub train: bool,
}

/// PyTorch's default conv/linear init: U(±1/√fan_in).
pub fn uniform_fan_in(fan_in: usize) -> Init {
    let b = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

pub fn kaiming(fan_in: usize) -> Init {
    Init::Randn { mean: 0.0, stdev: (2.0 / fan_in as f64).sqrt() }
}

/// A 2-D convolution (groups = 1) with optional bias. Weight (out, in, k, k).
#[derive(Debug, Clone)]
pub struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
}

impl Conv {
    pub fn new(vb: VarBuilder, cin: usize, cout: usize, k: usize, stride: usize, bias: bool, init: Init) -> Result<Self> {
        let weight = vb.get_with_hints((cout, cin, k, k), "weight", init)?;
        let bias = if bias { Some(vb.get_with_hints(cout, "bias", uniform_fan_in(cin * k * k))?) } else { None };
        Ok(Conv { weight, bias, stride, padding: k / 2 })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // im2col + one matrix product: candle's conv2d backward is a direct transposed
        // convolution, many times slower (see kernels.rs). The page keeps candle's conv.
        #[cfg(not(target_arch = "wasm32"))]
        let y = if x.device().is_cpu() {
            crate::kernels::conv2d(x, &self.weight, self.padding, self.stride)?
        } else {
            x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?
        };
        #[cfg(target_arch = "wasm32")]
        let y = x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?;
        match &self.bias {
            Some(b) if y.device().is_cpu() => crate::kernels::add_channel_bias(&y, b),
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(y),
        }
    }

    /// Multiply-adds for one image with output size h×w.
    pub fn macs(&self, h: usize, w: usize) -> u64 {
        self.weight.elem_count() as u64 * (h * w) as u64
    }

    /// The same conv with its weights kept out of backpropagation (they still follow the
    /// variable's value: the tensor shares its storage).
    pub fn frozen(mut self) -> Self {
        self.weight = self.weight.detach();
        self
    }
}

/// Linear layer, weight (out, in).
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(vb: VarBuilder, cin: usize, cout: usize, bias: bool, init: Init) -> Result<Self> {
        let weight = vb.get_with_hints((cout, cin), "weight", init)?;
        let bias = if bias { Some(vb.get_with_hints(cout, "bias", Init::Const(0.0))?) } else { None };
        Ok(Linear { weight, bias })
    }

    /// x: (..., in) → (..., out)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match x.rank() {
            2 => x.matmul(&self.weight.t()?)?,
            _ => x.broadcast_matmul(&self.weight.t()?)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    pub fn macs(&self) -> u64 {
        self.weight.elem_count() as u64
    }
}

/// BatchNorm over channels of an NCHW map, with one running-statistics set per pass:
/// pass 2 sees modulated activations, so sharing pass-1 statistics would fit neither pass.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    means: Vec<Tensor>,
    vars: Vec<Tensor>,
}

pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;

impl BatchNorm {
    pub fn new(vb: VarBuilder, c: usize, stat_sets: usize) -> Result<Self> {
        let weight = vb.get_with_hints(c, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(c, "bias", Init::Const(0.0))?;
        let mut means = Vec::new();
        let mut vars = Vec::new();
        for s in 0..stat_sets {
            means.push(vb.get_with_hints(c, &format!("stats{s}.mean"), Init::Const(0.0))?);
            vars.push(vb.get_with_hints(c, &format!("stats{s}.var"), Init::Const(1.0))?);
        }
        Ok(BatchNorm { weight, bias, means, vars })
    }

    pub fn forward(&self, x: &Tensor, ctx: PassContext) -> Result<Tensor> {
        let set = ctx.pass.min(self.means.len() - 1);
        if ctx.train && x.device().is_cpu() {
            // Fused forward and closed-form backward (kernels.rs), same values as below.
            let (y, mean, var) = crate::kernels::batch_norm_train(x, &self.weight, &self.bias, BN_EPS)?;
            self.update_running(set, &mean, &var, x.elem_count() / x.dim(1)?)?;
            return Ok(y);
        }
        let (mean, var) = if ctx.train {
            let mean = x.mean_keepdim((0, 2, 3))?;
            let centered = x.broadcast_sub(&mean)?;
            let var = centered.sqr()?.mean_keepdim((0, 2, 3))?;
            self.update_running(set, &mean, &var, x.elem_count() / x.dim(1)?)?;
            (mean, var)
        } else {
            (self.means[set].reshape((1, (), 1, 1))?, self.vars[set].reshape((1, (), 1, 1))?)
        };
        let scale = self.weight.reshape((1, (), 1, 1))?.broadcast_div(&(var + BN_EPS)?.sqrt()?)?;
        let shift = self.bias.reshape((1, (), 1, 1))?.broadcast_sub(&mean.broadcast_mul(&scale)?)?;
        x.broadcast_mul(&scale)?.broadcast_add(&shift)
    }

    /// `forward` followed by a ReLU; one fused op when training on the CPU.
    pub fn forward_relu(&self, x: &Tensor, ctx: PassContext) -> Result<Tensor> {
        if ctx.train && x.device().is_cpu() {
            let set = ctx.pass.min(self.means.len() - 1);
            let (y, mean, var) = crate::kernels::batch_norm_relu_train(x, &self.weight, &self.bias, BN_EPS)?;
            self.update_running(set, &mean, &var, x.elem_count() / x.dim(1)?)?;
            return Ok(y);
        }
        self.forward(x, ctx)?.relu()
    }

    /// Exponential moving average of batch statistics (unbiased variance, as PyTorch does).
    fn update_running(&self, set: usize, mean: &Tensor, var: &Tensor, n: usize) -> Result<()> {
        if !self.means[set].is_variable() {
            return Ok(()); // loaded read-only weights: nothing to track
        }
        let unbias = n as f64 / (n.max(2) - 1) as f64;
        let m = (self.means[set].affine(1.0 - BN_MOMENTUM, 0.0)? + mean.flatten_all()?.detach().affine(BN_MOMENTUM, 0.0)?)?;
        let v = (self.vars[set].affine(1.0 - BN_MOMENTUM, 0.0)? + var.flatten_all()?.detach().affine(BN_MOMENTUM * unbias, 0.0)?)?;
        Var::from_tensor(&self.means[set])?.set(&m)?;
        Var::from_tensor(&self.vars[set])?.set(&v)
    }
}

/// LayerNorm over dimension `dim` (channels at each position), biased variance, eps inside the sqrt.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(vb: VarBuilder, c: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            weight: vb.get_with_hints(c, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(c, "bias", Init::Const(0.0))?,
            eps,
        })
    }

    /// Normalise over the last dimension.
    pub fn forward_last(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        xc.broadcast_div(&(var + self.eps)?.sqrt()?)?.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }

    /// Normalise an NCHW map over channels at each position.
    pub fn forward_channels(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            return crate::kernels::layer_norm_channels(x, &self.weight, &self.bias, self.eps);
        }
        self.forward_channels_composed(x)
    }

    /// `forward_channels` from candle ops (GPU devices; the reference in tests).
    pub fn forward_channels_composed(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(1)?;
        let shape = (1, (), 1, 1);
        xc.broadcast_div(&(var + self.eps)?.sqrt()?)?.broadcast_mul(&self.weight.reshape(shape)?)?.broadcast_add(&self.bias.reshape(shape)?)
    }
}

/// Depthwise 3x3 conv, stride 1, padding 1, weight (C, 1, 3, 3). On the CPU one stencil kernel
/// (candle's grouped conv runs one conv per channel, far slower); elsewhere candle's grouped conv.
#[derive(Debug, Clone)]
pub struct DepthwiseConv3 {
    weight: Tensor,
    bias: Tensor,
}

impl DepthwiseConv3 {
    pub fn new(vb: VarBuilder, c: usize) -> Result<Self> {
        let weight = vb.get_with_hints((c, 1, 3, 3), "weight", uniform_fan_in(9))?;
        let bias = vb.get_with_hints(c, "bias", uniform_fan_in(9))?;
        Ok(DepthwiseConv3 { weight, bias })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            return crate::kernels::depthwise3(x, &self.weight, &self.bias);
        }
        let c = self.weight.dim(0)?;
        x.conv2d(&self.weight, 1, 1, 1, c)?.broadcast_add(&self.bias.reshape((1, (), 1, 1))?)
    }

    pub fn macs(&self, h: usize, w: usize) -> u64 {
        self.weight.elem_count() as u64 * (h * w) as u64
    }
}

/// x (B, C, H, W) times s, one value per channel (C) or per image and channel (B, C).
pub fn scale_planes(x: &Tensor, s: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        return crate::kernels::scale_planes(x, s);
    }
    let (b, c, _, _) = x.dims4()?;
    let rows = if s.elem_count() == c { 1 } else { b };
    x.broadcast_mul(&s.reshape((rows, c, 1, 1))?)
}

/// Exact GELU (erf form); on the CPU with a fused backward.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        return crate::kernels::gelu_erf(x);
    }
    x.gelu_erf()
}

/// Squeeze-and-excitation: channel gates from the global average.
#[derive(Debug, Clone)]
pub struct SqueezeExcite {
    reduce: Linear,
    expand: Linear,
}

impl SqueezeExcite {
    pub fn new(vb: VarBuilder, c: usize, r: usize) -> Result<Self> {
        Ok(SqueezeExcite {
            reduce: Linear::new(vb.pp("reduce"), c, r, true, uniform_fan_in(c))?,
            expand: Linear::new(vb.pp("expand"), r, c, true, uniform_fan_in(r))?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.mean((2, 3))?;
        let s = self.expand.forward(&self.reduce.forward(&s)?.relu()?)?;
        scale_planes(x, &candle_nn::ops::sigmoid(&s)?)
    }

    pub fn macs(&self) -> u64 {
        self.reduce.macs() + self.expand.macs()
    }
}

/// Max-pool k×k (2 or 3), stride 2, `pad` zeros around the input (used after a ReLU, where
/// they equal −∞). Natively our kernel, which has the backward
/// pass that candle's pooling lacks when the window differs from the stride (and for 2×2 is
/// faster than candle's composed one); the page (inference only) keeps candle's pooling, the
/// same values.
pub fn max_pool(x: &Tensor, k: usize, pad: usize) -> Result<Tensor> {
    let padded;
    let x = match pad {
        0 => x,
        p => {
            padded = x.pad_with_zeros(2, p, p)?.pad_with_zeros(3, p, p)?;
            &padded
        }
    };
    if x.device().is_cpu() && cfg!(not(target_arch = "wasm32")) {
        return crate::kernels::max_pool(x, k);
    }
    x.max_pool2d_with_stride(k, 2)
}

/// Read a scalar tensor stored as shape (1).
pub fn scalar(t: &Tensor) -> Result<f32> {
    t.to_dtype(DType::F32)?.flatten_all()?.get(0)?.to_scalar::<f32>()
}

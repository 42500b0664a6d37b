//! The training kernels against candle's own ops: values and gradients, odd sizes, strides,
//! padding, 1x1 kernels, ties in the max-pool.
use candle_core::{Device, Tensor, Var};
use gattanet::kernels;

fn maxdiff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn scale(t: &Tensor) -> f32 {
    t.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap().max(1.0)
}

/// A fixed "upstream gradient" to backpropagate.
fn probe(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f32 / 500.0) - 1.0).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn var(shape: &[usize], seed: u64) -> Var {
    Var::from_tensor(&probe(shape, seed)).unwrap()
}

#[test]
fn conv2d_matches_candle_values_and_gradients() {
    // (batch, cin, cout, h, w, k, stride, padding)
    let cases = [
        (2, 3, 5, 8, 8, 3, 1, 1),
        (3, 4, 6, 7, 9, 3, 2, 1),
        (2, 5, 3, 6, 6, 1, 1, 0),
        (2, 4, 4, 9, 7, 1, 2, 0),
        (1, 2, 3, 5, 5, 3, 1, 0),
        (2, 3, 2, 16, 16, 3, 2, 1),
    ];
    for (b, ci, co, h, w, k, s, p) in cases {
        let x = var(&[b, ci, h, w], 1);
        let wt = var(&[co, ci, k, k], 2);
        let want = x.as_tensor().conv2d(wt.as_tensor(), p, s, 1, 1).unwrap();
        let got = kernels::conv2d(x.as_tensor(), wt.as_tensor(), p, s).unwrap();
        assert_eq!(got.dims(), want.dims());
        assert!(maxdiff(&got, &want) < 1e-5 * scale(&want), "{:?}: values", (b, ci, co, h, w, k, s, p));
        let g = probe(want.dims(), 3);
        let gw = (&want * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let gg = (&got * &g).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, t) in [("dx", x.as_tensor()), ("dw", wt.as_tensor())] {
            let (a, e) = (gg.get(t).unwrap(), gw.get(t).unwrap());
            assert!(maxdiff(a, e) < 1e-4 * scale(e), "{:?}: {name} differs by {}", (b, ci, co, h, w, k, s, p), maxdiff(a, e));
        }
    }
}

#[test]
fn conv2d_on_a_plain_input_gives_the_weight_gradient_only() {
    // The first layer's input is data, not a variable: its gradient is skipped, dw stays exact.
    let x = probe(&[3, 4, 9, 8], 21);
    let wt = var(&[5, 4, 3, 3], 22);
    let want = x.conv2d(wt.as_tensor(), 1, 1, 1, 1).unwrap();
    let got = kernels::conv2d(&x, wt.as_tensor(), 1, 1).unwrap();
    let g = probe(want.dims(), 23);
    let gw = (&want * &g).unwrap().sum_all().unwrap().backward().unwrap();
    let gg = (&got * &g).unwrap().sum_all().unwrap().backward().unwrap();
    let (a, e) = (gg.get(wt.as_tensor()).unwrap(), gw.get(wt.as_tensor()).unwrap());
    assert!(maxdiff(a, e) < 1e-4 * scale(e), "dw differs by {}", maxdiff(a, e));
    assert!(gg.get(&x).is_none());
}

#[test]
fn conv2d_refuses_mismatched_shapes() {
    let x = probe(&[1, 3, 4, 4], 1);
    assert!(kernels::conv2d(&x, &probe(&[2, 4, 3, 3], 2), 1, 1).is_err());
    assert!(kernels::conv2d(&x, &probe(&[2, 3, 7, 7], 2), 1, 1).is_err());
}

/// The composed max-pool the model used before: shifted maxima, every other row and column.
fn pool_reference(x: &Tensor) -> Tensor {
    let (_, _, h, w) = x.dims4().unwrap();
    let max3 = |t: &Tensor, dim: usize, n: usize| {
        t.narrow(dim, 0, n - 2)
            .unwrap()
            .maximum(&t.narrow(dim, 1, n - 2).unwrap())
            .unwrap()
            .maximum(&t.narrow(dim, 2, n - 2).unwrap())
            .unwrap()
    };
    let m = max3(&max3(x, 2, h), 3, w);
    let idx = |n: usize| Tensor::arange_step(0u32, 2 * ((n - 3) / 2 + 1) as u32, 2, &Device::Cpu).unwrap();
    m.index_select(&idx(h), 2).unwrap().index_select(&idx(w), 3).unwrap()
}

/// A (2, 3, h, w) variable with distinct values: no ties, so max-pool gradients are unique.
fn distinct_map(h: usize, w: usize) -> Var {
    let t = Tensor::arange(0f32, (6 * h * w) as f32, &Device::Cpu).unwrap().reshape((2, 3, h, w)).unwrap();
    Var::from_tensor(&t.affine(-0.37, 0.0).unwrap().sin().unwrap()).unwrap()
}

#[test]
fn max_pool_matches_the_composed_form() {
    for (h, w) in [(7, 7), (8, 9), (15, 15), (3, 3), (32, 32)] {
        let x = var(&[2, 3, h, w], 5);
        let want = pool_reference(x.as_tensor());
        let got = kernels::max_pool(x.as_tensor(), 3).unwrap();
        assert_eq!(got.dims(), want.dims());
        assert_eq!(maxdiff(&got, &want), 0.0);
        // candle's own max-pool agrees too.
        assert_eq!(maxdiff(&got, &x.as_tensor().max_pool2d_with_stride(3, 2).unwrap()), 0.0);
        let g = probe(want.dims(), 6);
        // Distinct values: no ties, so the gradients agree exactly.
        let distinct = distinct_map(h, w);
        let a = (kernels::max_pool(distinct.as_tensor(), 3).unwrap() * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let b = (pool_reference(distinct.as_tensor()) * &g).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(maxdiff(a.get(distinct.as_tensor()).unwrap(), b.get(distinct.as_tensor()).unwrap()) < 1e-6, "{h}x{w}");
    }
    // Ties (a constant map): each output's gradient goes to exactly one input, the first.
    let x = Var::from_tensor(&Tensor::zeros((1, 1, 5, 5), candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
    let g = kernels::max_pool(x.as_tensor(), 3).unwrap().sum_all().unwrap().backward().unwrap();
    let d: Vec<f32> = g.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(d.iter().sum::<f32>(), 4.0);
    assert_eq!((d[0], d[2], d[10], d[12]), (1.0, 1.0, 1.0, 1.0));
}

/// Max-pool 2x2 / stride 2 composed from a reshape and two max reductions (whose backward sends
/// the gradient to the maximum). candle's own max_pool2d backward is not a reference: it scales
/// the gradient by the share of the window's inputs that hold the maximum (1/4 for a unique one).
fn pool2_reference(x: &Tensor) -> Tensor {
    let (b, c, h, w) = x.dims4().unwrap();
    let (ho, wo) = (h / 2, w / 2);
    let x = x.narrow(2, 0, 2 * ho).unwrap().narrow(3, 0, 2 * wo).unwrap().contiguous().unwrap();
    x.reshape((b, c, ho, 2, wo, 2)).unwrap().max(5).unwrap().max(3).unwrap()
}

#[test]
fn max_pool_2x2_matches_the_composed_form() {
    for (h, w) in [(2, 2), (8, 8), (9, 7), (32, 32)] {
        let x = distinct_map(h, w);
        let got = kernels::max_pool(x.as_tensor(), 2).unwrap();
        let want = pool2_reference(x.as_tensor());
        assert_eq!(got.dims(), &[2, 3, h / 2, w / 2]);
        assert_eq!(maxdiff(&got, &want), 0.0);
        // candle's forward agrees too (its backward does not: see pool2_reference).
        assert_eq!(maxdiff(&got, &x.as_tensor().max_pool2d(2).unwrap()), 0.0);
        let g = probe(want.dims(), 4);
        let a = (got * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let b = (want * &g).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(maxdiff(a.get(x.as_tensor()).unwrap(), b.get(x.as_tensor()).unwrap()) < 1e-6, "{h}x{w}");
    }
    // A hand case: each 2x2 window's gradient goes to its maximum only.
    let x = Var::from_tensor(&Tensor::new(&[[[[1f32, 5.], [3., 2.]]]], &Device::Cpu).unwrap()).unwrap();
    let y = kernels::max_pool(x.as_tensor(), 2).unwrap();
    assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![5.0]);
    let d = y.affine(3.0, 0.0).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(d.get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![0.0, 3.0, 0.0, 0.0]);
    assert!(kernels::max_pool(x.as_tensor(), 4).is_err());
}

#[test]
fn batch_norm_matches_the_composed_form() {
    for (b, c, h, w) in [(4, 3, 5, 5), (2, 6, 8, 7), (8, 2, 1, 1), (3, 4, 16, 16)] {
        let x = Var::from_tensor(&probe(&[b, c, h, w], 7).affine(3.0, 0.5).unwrap()).unwrap();
        let gamma = var(&[c], 8);
        let beta = var(&[c], 9);
        let eps = 1e-5;
        let mean = x.as_tensor().mean_keepdim((0, 2, 3)).unwrap();
        let centered = x.as_tensor().broadcast_sub(&mean).unwrap();
        let v = centered.sqr().unwrap().mean_keepdim((0, 2, 3)).unwrap();
        let want = centered
            .broadcast_div(&(&v + eps).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&gamma.as_tensor().reshape((1, c, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&beta.as_tensor().reshape((1, c, 1, 1)).unwrap())
            .unwrap();
        let (got, m, var_b) = kernels::batch_norm_train(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), eps).unwrap();
        assert!(maxdiff(&got, &want) < 1e-4, "{:?}", (b, c, h, w));
        assert!(maxdiff(&m, &mean.flatten_all().unwrap()) < 1e-5);
        assert!(maxdiff(&var_b, &v.flatten_all().unwrap()) < 1e-4);
        let g = probe(&[b, c, h, w], 10);
        let ga = (&got * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&want * &g).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, t) in [("dx", x.as_tensor()), ("dgamma", gamma.as_tensor()), ("dbeta", beta.as_tensor())] {
            let (a, e) = (ga.get(t).unwrap(), gb.get(t).unwrap());
            assert!(maxdiff(a, e) < 1e-4 * scale(e), "{:?}: {name} differs by {}", (b, c, h, w), maxdiff(a, e));
        }
    }
}

#[test]
fn batch_norm_relu_matches_batch_norm_then_relu() {
    for (b, c, h, w) in [(4, 3, 5, 5), (2, 6, 8, 7), (3, 4, 16, 16), (64, 2, 16, 16)] {
        let x = Var::from_tensor(&probe(&[b, c, h, w], 11).affine(3.0, 0.5).unwrap()).unwrap();
        let gamma = var(&[c], 12);
        let beta = var(&[c], 13);
        let (plain, m0, v0) = kernels::batch_norm_train(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), 1e-5).unwrap();
        let want = plain.relu().unwrap();
        let (got, m1, v1) = kernels::batch_norm_relu_train(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), 1e-5).unwrap();
        assert_eq!(maxdiff(&got, &want), 0.0, "{:?}", (b, c, h, w));
        assert_eq!((maxdiff(&m0, &m1), maxdiff(&v0, &v1)), (0.0, 0.0));
        let zeros = want.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().filter(|&&v| v == 0.0).count();
        assert!(zeros > 0 && zeros < want.elem_count(), "the ReLU must cut some values and keep others");
        let g = probe(&[b, c, h, w], 14);
        let ga = (&got * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&want * &g).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, t) in [("dx", x.as_tensor()), ("dgamma", gamma.as_tensor()), ("dbeta", beta.as_tensor())] {
            let (a, e) = (ga.get(t).unwrap(), gb.get(t).unwrap());
            assert!(maxdiff(a, e) < 1e-4 * scale(e), "{:?}: {name} differs by {}", (b, c, h, w), maxdiff(a, e));
        }
    }
}

/// Backpropagate a fixed probe through `want` and `got` and compare the gradients of `vars`.
fn same_gradients(want: &Tensor, got: &Tensor, vars: &[(&str, &Var)], tol: f32, case: &str) {
    let g = probe(want.dims(), 7);
    let gw = (want * &g).unwrap().sum_all().unwrap().backward().unwrap();
    let gg = (got * &g).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in vars {
        let (a, e) = (gg.get(v.as_tensor()).unwrap(), gw.get(v.as_tensor()).unwrap());
        assert!(maxdiff(a, e) < tol * scale(e), "{case}: {name} differs by {}", maxdiff(a, e));
    }
}

#[test]
fn layer_norm_over_channels_matches_the_composed_form() {
    for (b, c, h, w) in [(2, 5, 3, 4), (1, 16, 8, 8), (3, 1, 2, 2), (2, 7, 1, 9)] {
        let x = var(&[b, c, h, w], 31);
        let gamma = var(&[c], 32);
        let beta = var(&[c], 33);
        let xt = x.as_tensor();
        let mean = xt.mean_keepdim(1).unwrap();
        let xc = xt.broadcast_sub(&mean).unwrap();
        let v = xc.sqr().unwrap().mean_keepdim(1).unwrap();
        let want = xc
            .broadcast_div(&(v + 1e-6).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&gamma.as_tensor().reshape((1, c, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&beta.as_tensor().reshape((1, c, 1, 1)).unwrap())
            .unwrap();
        let got = kernels::layer_norm_channels(xt, gamma.as_tensor(), beta.as_tensor(), 1e-6).unwrap();
        let case = format!("{:?}", (b, c, h, w));
        assert!(maxdiff(&got, &want) < 1e-5 * scale(&want), "{case}: values differ by {}", maxdiff(&got, &want));
        same_gradients(&want, &got, &[("dx", &x), ("dγ", &gamma), ("dβ", &beta)], 1e-4, &case);
    }
}

#[test]
fn layer_norm_of_a_hand_computed_position() {
    // One position, channels [1, 3]: mean 2, variance 1 → x̂ = [−1, 1]; γ = [2, 3], β = [0, 1].
    let x = Tensor::from_vec(vec![1f32, 3.0], (1, 2, 1, 1), &Device::Cpu).unwrap();
    let gamma = Tensor::new(&[2f32, 3.0], &Device::Cpu).unwrap();
    let beta = Tensor::new(&[0f32, 1.0], &Device::Cpu).unwrap();
    let y = kernels::layer_norm_channels(&x, &gamma, &beta, 0.0).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(y, vec![-2.0, 4.0]);
}

#[test]
fn depthwise_conv_matches_candles_grouped_conv() {
    for (b, c, h, w) in [(2, 3, 5, 6), (1, 4, 1, 1), (2, 2, 1, 7), (3, 5, 16, 16)] {
        let x = var(&[b, c, h, w], 41);
        let wt = var(&[c, 1, 3, 3], 42);
        let bias = var(&[c], 43);
        let want = x
            .as_tensor()
            .conv2d(wt.as_tensor(), 1, 1, 1, c)
            .unwrap()
            .broadcast_add(&bias.as_tensor().reshape((1, c, 1, 1)).unwrap())
            .unwrap();
        let got = kernels::depthwise3(x.as_tensor(), wt.as_tensor(), bias.as_tensor()).unwrap();
        let case = format!("{:?}", (b, c, h, w));
        assert!(maxdiff(&got, &want) < 1e-5 * scale(&want), "{case}: values differ by {}", maxdiff(&got, &want));
        same_gradients(&want, &got, &[("dx", &x), ("dw", &wt), ("db", &bias)], 1e-4, &case);
    }
    assert!(kernels::depthwise3(&probe(&[1, 3, 4, 4], 1), &probe(&[3, 1, 5, 5], 2), &probe(&[3], 3)).is_err());
}

#[test]
fn gelu_matches_candle_values_and_gradient() {
    let x = var(&[3, 7, 5, 5], 51);
    let xs = x.as_tensor().affine(6.0, 0.0).unwrap(); // spread over [−6, 6]
    let want = xs.gelu_erf().unwrap();
    let got = kernels::gelu_erf(&xs).unwrap();
    // Our Φ is a fit of erfc (as in the WebGPU shaders), candle's is libm's erf: within f32
    // rounding of each other. Absolute, scaled by |x|: candle's 1 + erf loses the lower tail.
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for ((x, g), w) in flat(&xs).into_iter().zip(flat(&got)).zip(flat(&want)) {
        assert!((g - w).abs() <= 4e-7 * x.abs().max(1.0), "gelu({x}) = {g}, candle {w}");
    }
    same_gradients(&want, &got, &[("dx", &x)], 1e-5, "gelu");
}

#[test]
fn channel_bias_and_plane_scales_match_broadcasts() {
    for (b, c, h, w) in [(2, 3, 4, 5), (1, 6, 1, 1), (3, 2, 7, 3)] {
        let case = format!("{:?}", (b, c, h, w));
        let x = var(&[b, c, h, w], 61);
        let bias = var(&[c], 62);
        let want = x.as_tensor().broadcast_add(&bias.as_tensor().reshape((1, c, 1, 1)).unwrap()).unwrap();
        let got = kernels::add_channel_bias(x.as_tensor(), bias.as_tensor()).unwrap();
        assert_eq!(maxdiff(&got, &want), 0.0, "{case}: bias values");
        same_gradients(&want, &got, &[("dx", &x), ("dbias", &bias)], 1e-5, &case);
        for rows in [1, b] {
            let s = var(&[rows, c], 63);
            let want = x.as_tensor().broadcast_mul(&s.as_tensor().reshape((rows, c, 1, 1)).unwrap()).unwrap();
            let got = kernels::scale_planes(x.as_tensor(), s.as_tensor()).unwrap();
            assert_eq!(maxdiff(&got, &want), 0.0, "{case}: scale values ({rows} rows)");
            same_gradients(&want, &got, &[("dx", &x), ("ds", &s)], 1e-5, &case);
        }
        let gain = var(&[b, h, w], 64);
        let want = x.as_tensor().broadcast_mul(&gain.as_tensor().unsqueeze(1).unwrap()).unwrap();
        let got = kernels::scale_positions(x.as_tensor(), gain.as_tensor()).unwrap();
        assert_eq!(maxdiff(&got, &want), 0.0, "{case}: gain values");
        same_gradients(&want, &got, &[("dx", &x), ("dgain", &gain)], 1e-5, &case);
    }
    let x = probe(&[2, 3, 4, 4], 1);
    assert!(kernels::add_channel_bias(&x, &probe(&[4], 2)).is_err());
    assert!(kernels::scale_planes(&x, &probe(&[5], 2)).is_err());
    assert!(kernels::scale_positions(&x, &probe(&[2, 4, 3], 2)).is_err());
}

#[test]
fn padded_max_pool_is_pytorchs_on_a_relu_output() {
    // 4×4 non-negative plane, 3×3 windows, stride 2, one zero around (PyTorch pads with −∞,
    // the same on a ReLU's output): out[i, j] = max over rows 2i−1..2i+1, cols 2j−1..2j+1.
    #[rustfmt::skip]
    let x: [f32; 16] = [
        0., 1., 0., 2.,
        3., 0., 0., 0.,
        0., 0., 5., 0.,
        0., 4., 0., 0.,
    ];
    let t = Tensor::from_vec(x.to_vec(), (1, 1, 4, 4), &candle_core::Device::Cpu).unwrap();
    let y = gattanet::model::layers::max_pool(&t, 3, 1).unwrap();
    assert_eq!(y.dims(), [1, 1, 2, 2]);
    assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [3., 2., 4., 5.]);
    // all zeros stays zero: the padding never wins over a real value
    let z = gattanet::model::layers::max_pool(&t.zeros_like().unwrap(), 3, 1).unwrap();
    assert_eq!(z.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [0.; 4]);
}

//! Any bytes as an uploaded image: decoded, oriented, cropped and normalised, or refused with
//! an error; never a panic, an abort or unbounded memory.
#![no_main]
use gattanet::preprocess::{preprocess, InputSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = InputSpec { size: [32, 32], channels: 3, mean: vec![0.5, 0.5, 0.5], std: vec![0.25, 0.25, 0.25] };
    if let Ok(p) = preprocess(data, &spec) {
        assert_eq!(p.input.len(), 3 * 32 * 32);
        assert!(p.input.iter().all(|v| v.is_finite()));
    }
});

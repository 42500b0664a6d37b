//! Any bytes as a data set file: an IDX pair (gzipped or not), a CIFAR-10 batch or an image in
//! an image folder, loaded through the trainer's own loader from a temporary directory. Bad
//! files are refused or skipped with a reason; never a panic, an abort or unbounded memory.
#![no_main]
use std::path::Path;

use gattanet::preprocess::InputSpec;
use gattanet::train::data::{load, LoadOptions, Split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path();
    let write = |rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(Path::new("."))).expect("folder");
        std::fs::write(p, bytes).expect("write");
    };
    match kind % 4 {
        // images, then labels: the body split at its first byte's position
        0 | 1 => {
            let cut = body.first().map_or(0, |&b| (b as usize).min(body.len()));
            let gz = if kind % 4 == 1 { ".gz" } else { "" };
            write(&format!("t10k-images-idx3-ubyte{gz}"), &body[..cut]);
            write(&format!("t10k-labels-idx1-ubyte{gz}"), &body[cut..]);
        }
        2 => write("test_batch.bin", body),
        _ => {
            write("test/cat/a.png", body);
            write("test/dog/b.png", body);
        }
    }
    let opts = LoadOptions { input: InputSpec { size: [8, 8], channels: 3, mean: vec![0.5; 3], std: vec![0.25; 3] }, classes: None, limit: None, threads: 1 };
    if let Ok(ds) = load(root, Split::Test, &opts) {
        assert_eq!(ds.pixels.len(), ds.len() * ds.image_len());
    }
});

//! "Open your model…": find `config.json` and `model.safetensors` among what the user picked:
//! the two files, every file of a folder, or one `.zip` holding them. Plain Rust, so it is
//! tested natively; the page reads the files and the worker validates the weights.
use std::io::Read;

/// The largest weights file the page opens. The page keeps the bytes (a restarted worker gets
/// them back without asking again) and the worker keeps its own copy next to the model, in
/// 32-bit wasm memory: ResNet-152 at f32 (240 MB) fits, a bigger file is refused with this
/// figure instead of running out of memory.
pub const MAX_MODEL_BYTES: u64 = 512 << 20;

/// A config.json is small; anything larger is not one.
const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Which of the picked files to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The index of a `.zip` file.
    Zip(usize),
    /// The indices of the config and of the weights.
    Pair { config: usize, weights: usize },
}

/// A model as opened: config.json's text and the weights' bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub config: String,
    pub weights: Vec<u8>,
}

/// The file name without its folders (a folder's files come as `folder/sub/name`).
fn base(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn has_ext(path: &str, ext: &str) -> bool {
    base(path).to_ascii_lowercase().ends_with(ext)
}

/// Decide from the names and sizes of the picked files which to read.
pub fn choose(files: &[(String, u64)]) -> Result<Choice, String> {
    if files.is_empty() {
        return Err("no file was picked".into());
    }
    let listing = || files.iter().map(|(n, _)| base(n)).collect::<Vec<_>>().join(", ");
    let too_big = |i: usize, limit: u64| {
        let (name, size) = &files[i];
        (*size > limit).then(|| format!("“{}” is {:.0} MB; the page opens models up to {} MB", base(name), *size as f64 / 1e6, limit >> 20))
    };
    let zips: Vec<usize> = (0..files.len()).filter(|&i| has_ext(&files[i].0, ".zip")).collect();
    if let ([z], 1) = (zips.as_slice(), files.len()) {
        return match too_big(*z, MAX_MODEL_BYTES + MAX_CONFIG_BYTES) {
            Some(e) => Err(e),
            None => Ok(Choice::Zip(*z)),
        };
    }
    let weights: Vec<usize> = (0..files.len()).filter(|&i| has_ext(&files[i].0, ".safetensors")).collect();
    let named: Vec<usize> = (0..files.len()).filter(|&i| base(&files[i].0).eq_ignore_ascii_case("config.json")).collect();
    let jsons: Vec<usize> = (0..files.len()).filter(|&i| has_ext(&files[i].0, ".json")).collect();
    let config = match (named.as_slice(), jsons.as_slice()) {
        ([c], _) => *c,
        ([], [c]) => *c,
        _ => {
            return Err(format!(
                "pick config.json and model.safetensors together (or a folder or a .zip holding them); found: {}",
                listing()
            ))
        }
    };
    let weights = match weights.as_slice() {
        [w] => *w,
        [] => return Err(format!("no .safetensors weights among the picked files ({})", listing())),
        _ => return Err(format!("more than one .safetensors file among the picked files ({}): pick one model", listing())),
    };
    if let Some(e) = too_big(config, MAX_CONFIG_BYTES).or_else(|| too_big(weights, MAX_MODEL_BYTES)) {
        return Err(e);
    }
    Ok(Choice::Pair { config, weights })
}

/// config.json's bytes as text.
pub fn config_text(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "config.json is not UTF-8 text".to_string())
}

/// config.json and the .safetensors file from a zip (at any depth; one of each). Entries are
/// read no further than the page's limits, whatever sizes their headers claim.
pub fn unzip(bytes: &[u8]) -> Result<ModelFiles, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a readable .zip file ({e})"))?;
    let names: Vec<(String, u64)> = (0..archive.len())
        .filter_map(|i| {
            let f = archive.by_index_raw(i).ok().filter(|f| f.is_file())?;
            Some((f.name().ok()?.to_string(), f.size()))
        })
        .collect();
    let (config, weights) = match choose(&names) {
        Ok(Choice::Pair { config, weights }) => (names[config].0.clone(), names[weights].0.clone()),
        Ok(Choice::Zip(_)) => return Err("the .zip holds another .zip; put config.json and model.safetensors in it".into()),
        Err(e) => return Err(format!("in the .zip: {e}")),
    };
    let mut read = |name: &str, limit: u64| -> Result<Vec<u8>, String> {
        let entry = archive.by_name(name).map_err(|e| format!("{name} in the .zip: {e}"))?;
        let mut out = Vec::new();
        entry.take(limit + 1).read_to_end(&mut out).map_err(|e| format!("{name} in the .zip cannot be read ({e})"))?;
        if out.len() as u64 > limit {
            return Err(format!("{name} in the .zip unpacks to more than {} MB", limit >> 20));
        }
        Ok(out)
    };
    let config = config_text(read(&config, MAX_CONFIG_BYTES)?)?;
    let weights = read(&weights, MAX_MODEL_BYTES)?;
    Ok(ModelFiles { config, weights })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn files(names: &[&str]) -> Vec<(String, u64)> {
        names.iter().map(|n| (n.to_string(), 100)).collect()
    }

    #[test]
    fn the_pair_is_found_by_name_in_any_order_and_in_a_folder() {
        assert_eq!(choose(&files(&["model.safetensors", "config.json"])), Ok(Choice::Pair { config: 1, weights: 0 }));
        // a folder: other files around them, config.json preferred over other JSON files
        let folder = files(&["m/README.md", "m/inspection.json", "m/config.json", "m/model.safetensors"]);
        assert_eq!(choose(&folder), Ok(Choice::Pair { config: 2, weights: 3 }));
        // any single .json goes as the config
        assert_eq!(choose(&files(&["resnet.json", "resnet.safetensors"])), Ok(Choice::Pair { config: 0, weights: 1 }));
        assert_eq!(choose(&files(&["model.zip"])), Ok(Choice::Zip(0)));
    }

    #[test]
    fn wrong_picks_say_what_was_found() {
        let e = choose(&files(&["model.safetensors"])).unwrap_err();
        assert!(e.contains("pick config.json and model.safetensors together") && e.contains("found: model.safetensors"), "{e}");
        let e = choose(&files(&["config.json", "notes.txt"])).unwrap_err();
        assert!(e.contains("no .safetensors") && e.contains("notes.txt"), "{e}");
        let e = choose(&files(&["config.json", "a.safetensors", "b.safetensors"])).unwrap_err();
        assert!(e.contains("more than one"), "{e}");
        let e = choose(&files(&["a.json", "b.json", "m.safetensors"])).unwrap_err();
        assert!(e.contains("pick config.json"), "{e}");
        assert!(choose(&[]).is_err());
        let huge = vec![("config.json".to_string(), 10), ("model.safetensors".to_string(), MAX_MODEL_BYTES + 1)];
        let e = choose(&huge).unwrap_err();
        assert!(e.contains("up to 512 MB"), "{e}");
    }

    fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_unpacks_stored_or_deflated() {
        let weights: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
            let z = zip_of(&[("my-model/config.json", b"{\"name\": \"x\"}"), ("my-model/model.safetensors", &weights)], method);
            let got = unzip(&z).unwrap();
            assert_eq!(got.config, "{\"name\": \"x\"}");
            assert_eq!(got.weights, weights);
        }
    }

    #[test]
    fn broken_or_wrong_zips_are_refused_with_a_reason() {
        assert!(unzip(b"PK\x03\x04 not really").unwrap_err().contains("not a readable .zip"));
        let z = zip_of(&[("config.json", b"{}")], zip::CompressionMethod::Stored);
        assert!(unzip(&z).unwrap_err().contains("in the .zip: no .safetensors"));
        let z = zip_of(&[("config.json", &[0xff, 0xfe]), ("m.safetensors", b"x")], zip::CompressionMethod::Stored);
        assert!(unzip(&z).unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn a_deflate_bomb_stops_at_the_limit() {
        // 600 MB of zeros deflate to about 0.6 MB: the header claims the size, and reading
        // stops one byte past the limit either way.
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
        w.start_file("config.json", opts).unwrap();
        w.write_all(b"{}").unwrap();
        w.start_file("model.safetensors", opts).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..600 {
            w.write_all(&zeros).unwrap();
        }
        let z = w.finish().unwrap().into_inner();
        assert!(z.len() < 4 << 20, "{}", z.len());
        let e = unzip(&z).unwrap_err();
        assert!(e.contains("512 MB"), "{e}");
    }
}

//! The native CLI. Each sub-command lives in its own module.
mod bench;
mod eval;
mod explain;
mod inspect;
mod plot;
mod render;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gattanet", version, about = "GAttANet Explorer: see how global attention agreement works inside CNNs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the passes on images and write inspection.json plus PNG maps for each.
    Inspect(inspect::Args),
    /// Write a randomly initialised model directory for a config (a starting point, and for tests).
    Init {
        /// Model config JSON.
        #[arg(long)]
        config: PathBuf,
        /// Output model directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Store a model directory's weights anew (f32, f16 or int8), e.g. a trained model for shipping.
    Convert {
        /// Model directory to read.
        #[arg(long)]
        model: PathBuf,
        /// Output model directory (config.json + model.safetensors).
        #[arg(long)]
        out: PathBuf,
        /// Storage: f16 halves the download; int8 (per-row scales) quarters the large matrices;
        /// auto picks f16 when that stays within 5 MB, else int8 (as the trainer does).
        #[arg(long, value_parser = ["f16", "f32", "int8", "auto"])]
        dtype: String,
    },
    /// Time the forward passes of each backbone on the CPU.
    Bench(bench::Args),
    /// Train a model on a data set (image folders, CIFAR binary or IDX), with checkpoints to resume.
    Train(Box<train::Args>),
    /// Accuracy of a model on a data set's test split, also under Gaussian noise.
    Eval(eval::Args),
    /// Draw several models' noise curves (eval.json files from `eval --json`) in one PNG.
    PlotNoise(plot::Args),
    /// Agreement, class attention, Grad-CAM and occlusion maps of images side by side, with
    /// their deletion and insertion curves.
    Explain(explain::ExplainArgs),
    /// How faithful each kind of map is over a data set's test images: deletion and insertion
    /// areas under the curves, with random and centre maps as baselines.
    Faithfulness(explain::FaithfulnessArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => return inspect::run(args),
        Command::Init { config, out } => init(&config, &out),
        Command::Convert { model, out, dtype } => convert(&model, &out, &dtype),
        Command::Bench(args) => bench::run(args),
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::PlotNoise(args) => plot::run(args),
        Command::Explain(args) => explain::run_explain(args),
        Command::Faithfulness(args) => explain::run_faithfulness(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init(config: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    use crate::model::{io, ModelConfig};
    let text = std::fs::read_to_string(config).map_err(|e| crate::Error::io(config, e))?;
    let cfg = ModelConfig::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    let (_, varmap) = io::init(&cfg, &candle_core::Device::Cpu)?;
    io::save_dir(out, &cfg, &io::varmap_tensors(&varmap), io::Storage::F32)?;
    println!("wrote {} (random weights)", out.display());
    Ok(())
}

fn convert(model: &std::path::Path, out: &std::path::Path, dtype: &str) -> anyhow::Result<()> {
    use crate::model::io;
    let cfg = io::read_config(model)?;
    let path = model.join(io::WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| crate::Error::io(&path, e))?;
    let tensors = io::tensors_from_bytes(&cfg, &bytes, &candle_core::Device::Cpu)?;
    let storage = match dtype {
        "auto" => io::Storage::fitting(&tensors, io::MODEL_LIMIT_BYTES),
        other => io::Storage::parse(other).ok_or_else(|| anyhow::anyhow!("unknown storage {other}"))?,
    };
    io::save_dir(out, &cfg, &tensors, storage)?;
    let size = std::fs::metadata(out.join(io::WEIGHTS_FILE)).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({}, {:.2} MB); run `gattanet eval` on it for the accuracy as stored",
        out.display(),
        storage.name(),
        size as f64 / 1e6
    );
    Ok(())
}

/// How a run's records name a data set: its folder or file name and a content fingerprint, not
/// the path on the machine that ran it (records travel with shipped models).
pub fn data_label(path: &std::path::Path, fingerprint: u64) -> String {
    format!("{} (fingerprint {fingerprint:016x})", short_path(path))
}

/// The last component of a path (the whole string if it has none).
fn short_path(path: &std::path::Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// This process's command line with the program and every absolute path shortened to their
/// last component, for records that ship with a model.
pub fn portable_command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            let p = std::path::Path::new(&a);
            if i == 0 || p.is_absolute() {
                short_path(p)
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An output folder under `out` for each image, named after its file: images of the same name
/// from different folders (a/cat.png, b/cat.png) get cat, cat-2, … rather than each other's.
fn output_dirs(images: &[PathBuf], out: &std::path::Path) -> Vec<PathBuf> {
    let mut taken = std::collections::HashSet::new();
    images
        .iter()
        .map(|image| {
            let stem = image.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
            let name =
                (1..).map(|i| if i == 1 { stem.clone() } else { format!("{stem}-{i}") }).find(|n| !taken.contains(n)).expect("unbounded");
            taken.insert(name.clone());
            out.join(name)
        })
        .collect()
}

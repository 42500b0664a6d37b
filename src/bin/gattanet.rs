//! `gattanet`: the native command line (inspect, init, bench; train and eval come with the trainer).
#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    gattanet::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

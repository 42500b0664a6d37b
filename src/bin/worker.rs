//! The page's inference worker (wasm, run as a Web Worker; see `gattanet::app::worker`).
//! Natively this binary only says what it is.

#[cfg(target_arch = "wasm32")]
fn main() {
    gattanet::app::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!("`worker` is the GAttANet Explorer page's inference Web Worker; it runs in the browser, not natively.");
}

//! The web page entry point (wasm, built by trunk: see index.html and Trunk.toml). The page
//! itself is `gattanet::app`; inference runs in the `worker` binary. Natively this binary only
//! explains how to get the page.

#[cfg(target_arch = "wasm32")]
fn main() {
    gattanet::app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!(
        "`app` is the GAttANet Explorer web page; it runs in the browser, not natively.\n\
         Build and serve it with trunk: scripts/serve.sh (then open http://127.0.0.1:8080/).\n\
         For the command line, use the `gattanet` binary (e.g. `gattanet inspect`)."
    );
}

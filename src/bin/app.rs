//! The web page entry point. It is compiled to WebAssembly and bundled by trunk
//! (`index.html`, `Trunk.toml`; run `scripts/serve.sh`). yew, wasm-bindgen and web-sys are
//! wasm32-only dependencies, so the page lives behind `cfg(target_arch = "wasm32")` and the
//! native build of this binary only explains how to get the page.
//!
//! For now this is a placeholder page; the interactive inspector replaces it.

#[cfg(target_arch = "wasm32")]
mod page {
    use yew::prelude::*;

    #[function_component(App)]
    pub fn app() -> Html {
        html! {
            <main>
                <h1>{ "GAttANet Explorer" }</h1>
                <p>
                    { "Upload an image and watch a trained network attend to it: GAttANet Explorer \
                       shows, layer by layer and pass by pass, where a convolutional network's global \
                       attention agrees, and which regions each class looks at. The model runs \
                       entirely in your browser, so nothing leaves your device." }
                </p>
                <p>
                    { "The interactive inspector is being built; the CLI " }
                    <code>{ "gattanet inspect" }</code>
                    { " works today." }
                </p>
            </main>
        }
    }

    /// Mounts the page into `#app` (replacing its loading message), or into `<body>`.
    pub fn start() {
        console_error_panic_hook::set_once();
        let root = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("app"));
        match root {
            Some(root) => {
                root.set_inner_html("");
                yew::Renderer::<App>::with_root(root).render();
            }
            None => {
                yew::Renderer::<App>::new().render();
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {
    page::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!(
        "`app` is the GAttANet Explorer web page; it runs in the browser, not natively.\n\
         Build and serve it with trunk: scripts/serve.sh (then open http://127.0.0.1:8080/).\n\
         For the command line, use the `gattanet` binary (e.g. `gattanet inspect`)."
    );
}

//! A panic on the page must never leave a silently dead page: the hook logs to the console
//! and writes the message into a visible banner (`data-testid="error"`).
use wasm_bindgen::JsCast;

/// Installs the hook through Yew, which would otherwise replace it with its own
/// console-only hook when the app is mounted.
pub fn install() {
    yew::set_custom_panic_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_fatal(&info.to_string());
    }));
}

/// Writes `message` into the fatal-error banner, creating it at the top of <body> if needed.
pub fn show_fatal(message: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let banner = match doc.get_element_by_id("fatal") {
        Some(el) => el,
        None => {
            let Ok(el) = doc.create_element("div") else { return };
            el.set_id("fatal");
            let _ = el.set_attribute("role", "alert");
            let _ = el.set_attribute("data-testid", "error");
            let _ = el.set_attribute("class", "fatal");
            if let Some(body) = doc.body() {
                let _ = body.insert_before(&el, body.first_child().as_ref());
            }
            el
        }
    };
    banner.set_text_content(Some(&format!(
        "Something went wrong inside the page and it stopped: {message}. Reload the page to start again."
    )));
    if let Some(el) = banner.dyn_ref::<web_sys::HtmlElement>() {
        el.set_hidden(false);
    }
}

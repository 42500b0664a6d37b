//! Any text as the page's query string: values out of range are dropped, and what is kept
//! survives a round trip through the URL the page writes.
#![no_main]
use gattanet::app::url_state::UrlState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(search) = std::str::from_utf8(data) else { return };
    let state = UrlState::parse(search);
    let again = UrlState::parse(&state.to_query());
    // α and opacity are written with two decimals
    assert_eq!(UrlState { alpha: None, opacity: None, ..again.clone() }, UrlState { alpha: None, opacity: None, debug: None, ..state });
});

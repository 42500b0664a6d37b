//! Any text as a worker message (either direction): parsed or refused with an error.
#![no_main]
use gattanet::app::protocol::{parse, Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else { return };
    let _ = parse::<Request>(json);
    let _ = parse::<Reply>(json);
});

//! Any text as config.json: refused with an error naming the field, or a config whose graph,
//! tensor list and bounds can be computed.
#![no_main]
use gattanet::model::{io, ModelConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = ModelConfig::from_json(text) {
        let graph = cfg.graph();
        assert_eq!(graph.sites, cfg.attention_sites());
        let _ = graph.macs();
        let tensors = io::expected_tensors(&cfg).expect("a valid config lists its tensors");
        assert_eq!(tensors.len(), graph.weights.len(), "a tensor name listed twice");
    }
});

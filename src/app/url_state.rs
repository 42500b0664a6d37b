//! The view's state in the URL query (`?model=…&sample=…&pass=…`), so a link reproduces it.
//! Unknown or malformed values are ignored (the default is used), never an error.
use serde::{de::DeserializeOwned, Serialize};

pub use crate::model::MAX_PASSES;
use crate::viz::{ColorMap, Normalization};

/// The local-storage key whose value "1" turns the `?debug=` test hooks on in this browser.
pub const TEST_HOOKS_KEY: &str = "gattanet-test-hooks";

/// The largest α scale the page offers (the slider runs from 0, attention off, to this).
pub const MAX_ALPHA_SCALE: f32 = 3.0;

#[derive(Debug, Clone, PartialEq)]
pub struct UrlState {
    pub model: Option<String>,
    pub sample: Option<String>,
    pub passes: Option<usize>,
    pub alpha: Option<f32>,
    pub pass: Option<usize>,
    pub norm: Option<Normalization>,
    pub cmap: Option<ColorMap>,
    pub acmap: Option<ColorMap>,
    pub opacity: Option<f32>,
    pub smooth: Option<bool>,
    pub all_passes: Option<bool>,
    pub photo: Option<bool>,
    pub present: Option<bool>,
    pub backend: Option<String>,
    /// Test hooks: `panic-page`, `panic-worker`, `lose-device`. Honoured only where the browser
    /// test suite switched them on (`TEST_HOOKS_KEY` in local storage), and never written back
    /// into the URL, so a copied link cannot carry one to anybody else.
    pub debug: Option<String>,
}

fn enum_from<T: DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_str(&format!("\"{}\"", s.replace(['"', '\\'], ""))).ok()
}

fn enum_to<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default().trim_matches('"').to_string()
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl UrlState {
    /// Parses a query string ("?a=b&…" or "a=b&…").
    pub fn parse(search: &str) -> UrlState {
        // application/x-www-form-urlencoded, as URLSearchParams reads it; the first value of a key
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(search.strip_prefix('?').unwrap_or(search).as_bytes()).into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty());
        UrlState {
            model: get("model"),
            sample: get("sample"),
            passes: get("passes").and_then(|v| v.parse().ok()).filter(|n| (1..=MAX_PASSES).contains(n)),
            alpha: get("alpha").and_then(|v| v.parse().ok()).filter(|a: &f32| a.is_finite() && (0.0..=MAX_ALPHA_SCALE).contains(a)),
            pass: get("pass").and_then(|v| v.parse().ok()),
            norm: get("norm").and_then(|v| enum_from(&v)),
            cmap: get("cmap").and_then(|v| enum_from(&v)),
            acmap: get("acmap").and_then(|v| enum_from(&v)),
            opacity: get("opacity").and_then(|v| v.parse().ok()).filter(|o: &f32| (0.0..=1.0).contains(o)),
            smooth: get("smooth").and_then(|v| flag(&v)),
            all_passes: get("passes_shown").and_then(|v| match v.as_str() {
                "all" => Some(true),
                "one" => Some(false),
                _ => None,
            }),
            photo: get("base").and_then(|v| match v.as_str() {
                "photo" => Some(true),
                "model" => Some(false),
                _ => None,
            }),
            present: get("present").and_then(|v| flag(&v)),
            backend: get("backend"),
            debug: get("debug"),
        }
    }

    /// The query string, starting with "?" (only the values that are set).
    pub fn to_query(&self) -> String {
        let mut p = form_urlencoded::Serializer::new(String::new());
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                p.append_pair(k, &v);
            }
        };
        put("model", self.model.clone());
        put("sample", self.sample.clone());
        put("passes", self.passes.map(|n| n.to_string()));
        put("alpha", self.alpha.map(trim_float));
        put("pass", self.pass.map(|n| n.to_string()));
        put("norm", self.norm.map(|n| enum_to(&n)));
        put("cmap", self.cmap.map(|c| enum_to(&c)));
        put("acmap", self.acmap.map(|c| enum_to(&c)));
        put("opacity", self.opacity.map(trim_float));
        put("smooth", self.smooth.map(|s| if s { "1" } else { "0" }.to_string()));
        put("passes_shown", self.all_passes.map(|a| if a { "all" } else { "one" }.to_string()));
        put("base", self.photo.map(|b| if b { "photo" } else { "model" }.to_string()));
        put("present", self.present.map(|p| if p { "1" } else { "0" }.to_string()));
        put("backend", self.backend.clone());
        let s = p.finish();
        if s.is_empty() {
            String::new()
        } else {
            format!("?{s}")
        }
    }
}

/// A float with at most two decimals and no trailing zeros.
pub fn trim_float(v: f32) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_survives_its_query_string() {
        let s = UrlState::parse("?model=convgroups-gattanet&sample=cat&passes=3&alpha=1.5&pass=2&opacity=0.25&smooth=1&passes_shown=one&base=photo&present=0&backend=cpu");
        assert_eq!(s.model.as_deref(), Some("convgroups-gattanet"));
        assert_eq!((s.passes, s.alpha, s.pass, s.opacity), (Some(3), Some(1.5), Some(2), Some(0.25)));
        assert_eq!((s.smooth, s.all_passes, s.photo, s.present), (Some(true), Some(false), Some(true), Some(false)));
        assert_eq!(UrlState::parse(&s.to_query()), s);
        // names with spaces and symbols are escaped and come back
        let odd = UrlState { model: Some("a b&c=d?é".into()), ..UrlState::parse("") };
        assert_eq!(UrlState::parse(&odd.to_query()).model, odd.model);
    }

    #[test]
    fn bad_values_are_ignored_never_an_error() {
        let s = UrlState::parse("passes=0&alpha=NaN&opacity=7&pass=-1&smooth=maybe&norm=%FF%FE&cmap=\"x\\&model=%E0%A4%A&&=&x");
        assert_eq!((s.passes, s.alpha, s.opacity, s.pass, s.smooth, s.norm, s.cmap), (None, None, None, None, None, None, None));
        assert_eq!(UrlState::parse(&format!("passes={}", MAX_PASSES + 1)).passes, None);
        assert_eq!(UrlState::parse(&format!("alpha={}", MAX_ALPHA_SCALE + 0.5)).alpha, None);
        // the first value of a repeated key, as URLSearchParams.get gives it
        assert_eq!(UrlState::parse("passes=2&passes=3").passes, Some(2));
        assert_eq!(UrlState::parse("").to_query(), "");
    }
}

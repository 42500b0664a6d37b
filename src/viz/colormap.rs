//! Colour maps for the maps and the colours the charts share with them.
//! Every map here is colour-blind safe (ColorBrewer / viridis family).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorMap {
    /// Blue (negative) – white (0) – red (positive): ColorBrewer RdBu. For agreement maps.
    #[default]
    Diverging,
    /// Purple (negative) – white (0) – orange (positive): ColorBrewer PuOr.
    PurpleOrange,
    /// Viridis, dark to bright. For attention weights.
    Sequential,
    /// Cividis: viridis made safe for every colour-vision deficiency, blue to yellow.
    Cividis,
    /// Black to white.
    Greys,
}

/// The colour of a NaN value (or a cell missing from a malformed map): grey, distinct
/// from the near-white centre of the diverging maps.
pub const NAN_COLOR: [u8; 3] = [128, 128, 128];

/// Okabe–Ito colours for categories, first = the highlighted one (top-1, or a sample's true class).
/// The vermillion is darkened from (213, 94, 0) to 4.6:1 on white, as on the page (style.css
/// `--hl`), because it also colours the highlighted class's label text.
const CATEGORICAL: [[u8; 3]; 7] = [
    [194, 84, 0],    // vermillion
    [0, 114, 178],   // blue
    [0, 158, 115],   // bluish green
    [230, 159, 0],   // orange
    [204, 121, 167], // reddish purple
    [86, 180, 233],  // sky blue
    [0, 0, 0],       // black
];

/// The colour that marks the bar or line to look at.
pub const HIGHLIGHT: [u8; 3] = CATEGORICAL[0];
/// The colour of the other bars: grey, so that only the highlight carries hue.
pub const MUTED: [u8; 3] = [140, 140, 140];

/// Colour of category `i` (cycles after seven).
pub fn categorical(i: usize) -> [u8; 3] {
    CATEGORICAL[i % CATEGORICAL.len()]
}

impl ColorMap {
    /// Colour at `t` in [0, 1] (clamped); NaN gives [`NAN_COLOR`].
    pub fn rgb(&self, t: f32) -> [u8; 3] {
        if t.is_nan() {
            return NAN_COLOR;
        }
        let t = f64::from(t.clamp(0.0, 1.0));
        // colorous runs RdBu from red to blue and Greys from light to dark: flip them so
        // that t = 1 is red ("positive") and white ("more").
        let c = match self {
            ColorMap::Diverging => colorous::RED_BLUE.eval_continuous(1.0 - t),
            ColorMap::PurpleOrange => colorous::PURPLE_ORANGE.eval_continuous(t),
            ColorMap::Sequential => colorous::VIRIDIS.eval_continuous(t),
            ColorMap::Cividis => colorous::CIVIDIS.eval_continuous(t),
            ColorMap::Greys => colorous::GREYS.eval_continuous(1.0 - t),
        };
        [c.r, c.g, c.b]
    }

    /// Label for a picker.
    pub fn name(&self) -> &'static str {
        match self {
            ColorMap::Diverging => "Blue–red (diverging)",
            ColorMap::PurpleOrange => "Purple–orange (diverging)",
            ColorMap::Sequential => "Viridis (sequential)",
            ColorMap::Cividis => "Cividis (sequential)",
            ColorMap::Greys => "Greys (sequential)",
        }
    }

    pub fn all() -> &'static [ColorMap] {
        &[ColorMap::Diverging, ColorMap::PurpleOrange, ColorMap::Sequential, ColorMap::Cividis, ColorMap::Greys]
    }
}

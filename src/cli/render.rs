//! PNG files for one inspection (native only).
use std::path::Path;

use anyhow::Context;

use crate::inspect::Inspection;

pub fn write_pngs(dir: &Path, _result: &Inspection, view: &image::RgbImage) -> anyhow::Result<()> {
    let path = dir.join("input.png");
    view.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

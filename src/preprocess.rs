//! Image decoding and preprocessing, shared by the CLI and the page: bytes in, model input out.
//! No file system and no threads, so it runs unchanged on wasm32.
use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, Pixel, Primitive, Rgb, RgbImage, Rgba};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the model expects as input. Serialized inside the model's config.json as "input".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// [height, width] of the model input, e.g. [32, 32].
    pub size: [usize; 2],
    /// 1 (grayscale) or 3 (RGB).
    #[serde(default = "three")]
    pub channels: usize,
    /// Per-channel mean and std applied after scaling pixels to [0, 1]: x = (p/255 - mean)/std.
    /// Length = channels.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

fn three() -> usize {
    3
}

/// Largest model input side accepted by [`InputSpec::validate`].
const MAX_INPUT_SIDE: usize = 1024;

impl InputSpec {
    pub fn validate(&self) -> Result<()> {
        let [h, w] = self.size;
        if !(1..=MAX_INPUT_SIDE).contains(&h) || !(1..=MAX_INPUT_SIDE).contains(&w) {
            return Err(Error::config(
                "input.size",
                format!("must be [height, width] with sides from 1 to {MAX_INPUT_SIDE}, got [{h}, {w}]"),
            ));
        }
        if self.channels != 1 && self.channels != 3 {
            return Err(Error::config("input.channels", format!("must be 1 (grayscale) or 3 (RGB), got {}", self.channels)));
        }
        for (field, values) in [("input.mean", &self.mean), ("input.std", &self.std)] {
            if values.len() != self.channels {
                return Err(Error::config(field, format!("needs one value per channel ({}), got {}", self.channels, values.len())));
            }
        }
        if !self.mean.iter().all(|m| m.is_finite()) {
            return Err(Error::config("input.mean", format!("values must be finite, got {:?}", self.mean)));
        }
        if !self.std.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(Error::config("input.std", format!("values must be positive and finite, got {:?}", self.std)));
        }
        Ok(())
    }
}

/// Where the crop came from, so the page can show "the crop the model sees".
/// In the oriented original image's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

pub struct Prepared {
    /// The oriented original size (width, height) after EXIF orientation.
    pub original_size: (u32, u32),
    pub crop: Crop,
    /// Exactly what the model sees, as RGB at the model input size (grayscale models: gray
    /// replicated to RGB), for overlays. `input` is computed from it.
    pub view: RgbImage,
    /// Normalised model input, CHW (channels × H × W), f32.
    pub input: Vec<f32>,
}

/// Hard limits for untrusted input.
pub const MAX_BYTES: usize = 50 * 1024 * 1024;
/// Pixels per side.
pub const MAX_SIDE: u32 = 12_000;
pub const MAX_PIXELS: u64 = 64_000_000;

/// The formats compiled in, with their user-facing names.
const FORMATS: [(ImageFormat, &str); 5] = [
    (ImageFormat::Png, "PNG"),
    (ImageFormat::Jpeg, "JPEG"),
    (ImageFormat::Gif, "GIF"),
    (ImageFormat::WebP, "WebP"),
    (ImageFormat::Bmp, "BMP"),
];

const MIB: f64 = 1024.0 * 1024.0;

/// Decode PNG/JPEG/GIF(first frame)/WebP/BMP from bytes, applying the EXIF orientation.
/// Sizes are checked from the header, before any pixel buffer is allocated.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage> {
    let (mut decoder, format, name) = open(bytes)?;
    let fail = |e| decode_error(name, e);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.reserve(decoder.total_bytes()).map_err(fail)?;
    decoder.set_limits(limits).map_err(fail)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::image("truncated or corrupt JPEG: the data ends before the end-of-image marker"));
    }
    // Unreadable EXIF is not worth rejecting the picture for: keep it as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(fail)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Width and height of the image as shown (after its EXIF rotation), read from the header
/// alone, with the same checks as `decode`: cheap for any size of photo.
pub fn oriented_size(bytes: &[u8]) -> Result<(u32, u32)> {
    let (mut decoder, _, _) = open(bytes)?;
    let (w, h) = decoder.dimensions();
    Ok(match decoder.orientation().unwrap_or(Orientation::NoTransforms) {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => (h, w),
        _ => (w, h),
    })
}

/// The decoder for the bytes, once the format and the size in the header are acceptable.
fn open(bytes: &[u8]) -> Result<(Box<dyn ImageDecoder + '_>, ImageFormat, &'static str)> {
    if bytes.is_empty() {
        return Err(Error::image("empty file (0 bytes)"));
    }
    if bytes.len() > MAX_BYTES {
        return Err(Error::image(format!("file too large: {:.1} MB (limit {} MB)", bytes.len() as f64 / MIB, MAX_BYTES as f64 / MIB)));
    }
    let not_an_image = || Error::image("not an image: the data is not PNG, JPEG, GIF, WebP or BMP");
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| not_an_image())?;
    let format = reader.format().ok_or_else(not_an_image)?;
    let Some(&(_, name)) = FORMATS.iter().find(|(f, _)| *f == format) else {
        let found = format.extensions_str().first().copied().unwrap_or("?").to_uppercase();
        return Err(Error::image(format!("unsupported image format {found}: use PNG, JPEG, GIF, WebP or BMP")));
    };
    // The reader's default limits cap allocations only; the side limits are checked here so
    // the message can give the size (the PNG decoder would fail inside its constructor).
    let decoder = reader.into_decoder().map_err(|e| decode_error(name, e))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height)?;
    Ok((Box::new(decoder), format, name))
}

fn check_dimensions(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::image(format!("empty image: {width}×{height} pixels")));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::image(format!(
            "image too large: {width}×{height} pixels (limit {MAX_SIDE} per side, {} megapixels)",
            MAX_PIXELS / 1_000_000
        )));
    }
    Ok(())
}

fn decode_error(name: &str, err: ImageError) -> Error {
    match err {
        ImageError::Limits(_) => Error::image(format!("{name} image needs too much memory to decode")),
        ImageError::Unsupported(e) => Error::image(format!("unsupported {name} variant: {e}")),
        // The decoder's own reason is more useful than image's "Format error decoding ..." wrapper.
        ImageError::Decoding(e) => match std::error::Error::source(&e) {
            Some(reason) => Error::image(format!("truncated or corrupt {name}: {reason}")),
            None => Error::image(format!("truncated or corrupt {name}: {e}")),
        },
        other => Error::image(format!("truncated or corrupt {name}: {other}")),
    }
}

/// Whether the JPEG marker structure reaches its end-of-image marker. The JPEG decoder is lenient
/// and fills a truncated image with grey, which would silently feed the model half a picture.
/// Segments are skipped by their lengths, so an embedded EXIF thumbnail cannot end the walk early,
/// and data after the end marker (e.g. a phone's motion-photo video) is ignored.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI, which format detection has seen
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            i += 1; // entropy-coded data (or stray bytes, which the decoder tolerates too)
            continue;
        }
        i += match bytes[i + 1] {
            0xD9 => return true,
            0xFF => 1,                      // fill byte before a marker
            0x00 | 0x01 | 0xD0..=0xD8 => 2, // stuffed 0xFF or a marker without length
            _ => match bytes.get(i + 2..i + 4) {
                Some(len) => 2 + usize::from(u16::from_be_bytes([len[0], len[1]])),
                None => return false,
            },
        };
    }
    false
}

/// Resize the shorter side to the model's size (aspect preserved) and centre-crop, compositing
/// transparency over white; grayscale, 16-bit and float images are accepted; normalise.
pub fn prepare(img: &DynamicImage, spec: &InputSpec) -> Result<Prepared> {
    spec.validate()?;
    let (width, height) = (img.width(), img.height());
    check_dimensions(width, height)?;
    // validate() bounds the sides by MAX_INPUT_SIDE, so they fit in u32.
    let (tw, th) = (spec.size[1] as u32, spec.size[0] as u32);
    let crop = centre_crop(width, height, tw, th);
    let mut view = imageops::resize(&flatten_over_white(img, crop), tw, th, FilterType::Triangle);
    if spec.channels == 1 {
        for p in view.pixels_mut() {
            *p = Rgb([p.to_luma()[0]; 3]);
        }
    }
    let input = normalize_rgb(&view, spec);
    Ok(Prepared { original_size: (width, height), crop, view, input })
}

/// decode + prepare.
pub fn preprocess(bytes: &[u8], spec: &InputSpec) -> Result<Prepared> {
    prepare(&decode(bytes)?, spec)
}

/// Normalise an already model-sized RGB8 image (used by data loaders): CHW f32 at the image's
/// own size. One-channel specs take the luma, which is the gray value for gray images.
///
/// # Panics
/// If `spec` is invalid (see [`InputSpec::validate`]).
pub fn normalize_rgb(img: &RgbImage, spec: &InputSpec) -> Vec<f32> {
    let plane = img.width() as usize * img.height() as usize;
    let mut out = vec![0.0; spec.channels * plane];
    for (i, p) in img.pixels().enumerate() {
        let values = if spec.channels == 1 { [p.to_luma()[0]; 3] } else { p.0 };
        for c in 0..spec.channels {
            out[c * plane + i] = (f32::from(values[c]) / 255.0 - spec.mean[c]) / spec.std[c];
        }
    }
    out
}

/// The largest centred window with the target's aspect ratio. Resizing it to the target is
/// "shorter side to the target, then centre-crop", done without resizing pixels thrown away.
fn centre_crop(width: u32, height: u32, tw: u32, th: u32) -> Crop {
    let (w, h, tw, th) = (u64::from(width), u64::from(height), u64::from(tw), u64::from(th));
    // Rounded to the nearest pixel, at least one, at most the image; fits u32 since ≤ w or h.
    if w * th > h * tw {
        let cw = ((h * tw + th / 2) / th).clamp(1, w) as u32;
        Crop { x: (width - cw) / 2, y: 0, width: cw, height }
    } else {
        let ch = ((w * th + tw / 2) / tw).clamp(1, h) as u32;
        Crop { x: 0, y: (height - ch) / 2, width, height: ch }
    }
}

/// The crop as RGB8, alpha composited over white (a transparent PNG must not turn black).
fn flatten_over_white(img: &DynamicImage, crop: Crop) -> RgbImage {
    match img {
        DynamicImage::ImageLuma8(b) => flatten(b, crop),
        DynamicImage::ImageLumaA8(b) => flatten(b, crop),
        DynamicImage::ImageRgb8(b) => flatten(b, crop),
        DynamicImage::ImageRgba8(b) => flatten(b, crop),
        DynamicImage::ImageLuma16(b) => flatten(b, crop),
        DynamicImage::ImageLumaA16(b) => flatten(b, crop),
        DynamicImage::ImageRgb16(b) => flatten(b, crop),
        DynamicImage::ImageRgba16(b) => flatten(b, crop),
        DynamicImage::ImageRgb32F(b) => flatten(b, crop),
        DynamicImage::ImageRgba32F(b) => flatten(b, crop),
        // `DynamicImage` is non-exhaustive: a layout added later goes through a float copy.
        other => flatten(&other.to_rgba32f(), crop),
    }
}

fn flatten<P>(img: &ImageBuffer<P, Vec<P::Subpixel>>, crop: Crop) -> RgbImage
where
    P: Pixel,
    P::Subpixel: Into<f32>,
{
    // Scale to [0, 1]: the max is 255, 65535 or 1.0; out-of-range floats are clamped.
    let scale = 1.0 / Into::<f32>::into(P::Subpixel::DEFAULT_MAX_VALUE);
    let unit = |s: P::Subpixel| (s.into() * scale).clamp(0.0, 1.0);
    let n = usize::from(P::CHANNEL_COUNT);
    let (stride, x0, w) = (img.width() as usize * n, crop.x as usize * n, crop.width as usize * n);
    let mut out = RgbImage::new(crop.width, crop.height);
    // Whole rows of subpixels: indexing pixel by pixel costs more than the arithmetic.
    for (row, dst) in img.as_raw().chunks_exact(stride).skip(crop.y as usize).zip(out.rows_mut()) {
        for (src, dst) in row[x0..x0 + w].chunks_exact(n).zip(dst) {
            let Rgba([r, g, b, a]) = P::from_slice(src).to_rgba();
            let a = unit(a);
            // Values are in [0, 255], so +0.5 and truncation rounds; `as u8` maps a NaN to 0.
            *dst = Rgb([r, g, b].map(|v| ((unit(v) * a + 1.0 - a) * 255.0 + 0.5) as u8));
        }
    }
    out
}

//! Large photos are shrunk by the browser before the worker sees them. Decoded whole in the
//! worker, a 48 MP phone photo takes 144 MB of wasm memory for its pixels, as much again for its
//! EXIF rotation, and wasm memory never shrinks: on a phone the worker runs out of memory. The
//! browser's own decoder can scale while it decodes and applies the rotation itself, outside
//! wasm; the model needs few pixels (its input is at most 1024 px a side).
use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, ImageBitmap, ImageBitmapOptions, ImageEncodeOptions, OffscreenCanvas, OffscreenCanvasRenderingContext2d, ResizeQuality,
};

use crate::preprocess::{oriented_size, MAX_PIXELS};

/// Photos above this many pixels are shrunk to about it: 2309×1732 at 4:3, whose centre square
/// still exceeds the largest model input (1024 px) for shapes up to about 3.9:1.
pub const SHRINK_ABOVE_PIXELS: u64 = 4_000_000;

/// A photo as the browser shrank it: PNG bytes, and the size it had (after its EXIF rotation).
pub struct Shrunk {
    pub png: Vec<u8>,
    pub original: [u32; 2],
}

/// The shrunk photo, or None when it is small enough (or not an image the header reader knows:
/// the worker then says what is wrong with it, as for any file).
pub async fn shrink(blob: &Blob, bytes: &[u8]) -> Result<Option<Shrunk>, String> {
    let Ok((w, h)) = oriented_size(bytes) else { return Ok(None) };
    let pixels = u64::from(w) * u64::from(h);
    if pixels <= SHRINK_ABOVE_PIXELS {
        return Ok(None);
    }
    let scale = (SHRINK_ABOVE_PIXELS as f64 / pixels as f64).sqrt();
    let (tw, th) = (((w as f64 * scale) as u32).max(1), ((h as f64 * scale) as u32).max(1));
    match browser_resize(blob, tw, th).await {
        Ok(png) => Ok(Some(Shrunk { png, original: [w, h] })),
        // The worker can still decode what its limits allow, the slow way.
        Err(e) if pixels <= MAX_PIXELS => {
            web_sys::console::warn_1(&format!("the browser could not shrink the photo ({e}); decoding it whole").into());
            Ok(None)
        }
        Err(e) => Err(format!("this {w}×{h} photo is too large to decode here, and the browser could not shrink it ({e})")),
    }
}

/// Decode `blob` at `w`×`h` with the browser (EXIF rotation applied, as browsers do by default)
/// and encode it as PNG.
async fn browser_resize(blob: &Blob, w: u32, h: u32) -> Result<Vec<u8>, String> {
    let js = |e: wasm_bindgen::JsValue| e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_else(|| format!("{e:?}"));
    let window = web_sys::window().ok_or("no window")?;
    let options = ImageBitmapOptions::new();
    options.set_resize_width(w);
    options.set_resize_height(h);
    options.set_resize_quality(ResizeQuality::High);
    let promise = window.create_image_bitmap_with_blob_and_image_bitmap_options(blob, &options).map_err(js)?;
    let bitmap: ImageBitmap = JsFuture::from(promise).await.map_err(js)?.unchecked_into();
    let canvas = OffscreenCanvas::new(w, h).map_err(js)?;
    let ctx: OffscreenCanvasRenderingContext2d =
        canvas.get_context("2d").map_err(js)?.ok_or("no 2d canvas")?.dyn_into().map_err(|_| "no 2d canvas".to_string())?;
    ctx.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0).map_err(js)?;
    bitmap.close();
    let png = ImageEncodeOptions::new();
    png.set_type("image/png");
    let out: Blob = JsFuture::from(canvas.convert_to_blob_with_options(&png).map_err(js)?).await.map_err(js)?.unchecked_into();
    let buf = JsFuture::from(out.array_buffer()).await.map_err(js)?;
    Ok(Uint8Array::new(&buf).to_vec())
}

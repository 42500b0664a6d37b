//! Decoding and preprocessing of untrusted image bytes. Fixtures are built in memory.
use std::io::Cursor;
use std::time::{Duration, Instant};

use gattanet::preprocess::{decode, normalize_rgb, oriented_size, prepare, preprocess, Crop, InputSpec, MAX_BYTES};
use gattanet::Error;
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};

fn spec(h: usize, w: usize) -> InputSpec {
    InputSpec { size: [h, w], channels: 3, mean: vec![0.0; 3], std: vec![1.0; 3] }
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Simple LCG so the tests need no `rand`.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = Lcg(seed);
    RgbImage::from_fn(w, h, |_, _| Rgb([rng.byte(), rng.byte(), rng.byte()]))
}

fn image_error(result: gattanet::Result<impl Sized>) -> String {
    match result {
        Err(Error::Image(msg)) => msg,
        Err(other) => panic!("expected an image error, got {other}"),
        Ok(_) => panic!("expected an error, got an image"),
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A valid 1×1 PNG whose IHDR claims `w`×`h`, CRC fixed so only the size is wrong.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = encode(&DynamicImage::ImageRgb8(RgbImage::new(1, 1)), ImageFormat::Png);
    // Signature (8), IHDR length (4), "IHDR" at 12..16, width 16..20, height 20..24, CRC 29..33.
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn empty_input_is_rejected() {
    assert_eq!(image_error(decode(&[])), "empty file (0 bytes)");
}

#[test]
fn oversized_file_is_rejected_before_decoding() {
    let msg = image_error(decode(&vec![0u8; MAX_BYTES + 1]));
    assert!(msg.starts_with("file too large: 50.0 MB (limit 50 MB)"), "{msg}");
}

#[test]
fn text_and_random_bytes_are_not_images() {
    let random: Vec<u8> = {
        let mut rng = Lcg(7);
        (0..1000).map(|_| rng.byte()).collect()
    };
    for bytes in [b"hello, this is a text file\n".as_slice(), &random] {
        let msg = image_error(decode(bytes));
        assert!(msg.starts_with("not an image"), "{msg}");
    }
}

#[test]
fn known_but_unsupported_format_is_named() {
    let tiff = b"II*\0\x08\0\0\0\0\0\0\0\0\0\0\0\0\0";
    let msg = image_error(decode(tiff));
    assert!(msg.contains("unsupported image format TIFF"), "{msg}");
}

#[test]
fn truncated_png_is_rejected() {
    let png = encode(&DynamicImage::ImageRgb8(noise(64, 64, 1)), ImageFormat::Png);
    assert!(decode(&png).is_ok());
    for cut in [png.len() / 2, png.len() - 20, 40] {
        let msg = image_error(decode(&png[..cut]));
        assert!(msg.starts_with("truncated or corrupt PNG"), "cut at {cut}: {msg}");
    }
}

#[test]
fn truncated_jpeg_is_rejected() {
    let jpeg = encode(&DynamicImage::ImageRgb8(noise(64, 64, 2)), ImageFormat::Jpeg);
    assert!(decode(&jpeg).is_ok());
    for cut in [jpeg.len() / 2, jpeg.len() - 2, 100] {
        let msg = image_error(decode(&jpeg[..cut]));
        assert!(msg.starts_with("truncated or corrupt JPEG"), "cut at {cut}: {msg}");
    }
    // Trailing data after the end-of-image marker (phones append videos) is fine.
    let mut with_tail = jpeg.clone();
    with_tail.extend_from_slice(b"\0\0\0\x18ftypmp42 trailing video");
    assert_eq!(decode(&with_tail).unwrap().width(), 64);
}

#[test]
fn absurd_header_size_fails_fast() {
    let png = png_claiming(100_000, 100_000);
    let start = Instant::now();
    let msg = image_error(decode(&png));
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
    assert_eq!(msg, "image too large: 100000×100000 pixels (limit 12000 per side, 64 megapixels)");
    // Within the side limit but over the pixel budget.
    let msg = image_error(decode(&png_claiming(10_000, 10_000)));
    assert!(msg.starts_with("image too large: 10000×10000"), "{msg}");
}

#[test]
fn every_supported_format_decodes() {
    let img = DynamicImage::ImageRgb8(noise(24, 16, 3));
    for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Bmp] {
        let decoded = decode(&encode(&img, format)).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!((decoded.width(), decoded.height()), (24, 16), "{format:?}");
    }
}

#[test]
fn grayscale_png_gives_three_identical_channels() {
    let gray = ImageBuffer::from_fn(8, 8, |x, y| Luma([(x * 30 + y) as u8]));
    let p = preprocess(&encode(&DynamicImage::ImageLuma8(gray.clone()), ImageFormat::Png), &spec(8, 8)).unwrap();
    for (x, y, px) in p.view.enumerate_pixels() {
        assert_eq!(px.0, [gray.get_pixel(x, y)[0]; 3]);
    }
    let (r, rest) = p.input.split_at(64);
    assert_eq!((r, r), rest.split_at(64));
}

#[test]
fn grayscale_model_sees_luma_replicated() {
    let img = RgbImage::from_fn(4, 4, |x, _| if x < 2 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
    let gray_spec = InputSpec { size: [4, 4], channels: 1, mean: vec![0.0], std: vec![1.0] };
    let p = prepare(&DynamicImage::ImageRgb8(img), &gray_spec).unwrap();
    assert_eq!(p.input.len(), 16);
    // Rec. 709 luma: red 0.2126, blue 0.0722.
    assert_eq!(p.view.get_pixel(0, 0).0, [54; 3]);
    assert_eq!(p.view.get_pixel(3, 0).0, [18; 3]);
    assert_eq!(p.input[0], 54.0 / 255.0);
}

#[test]
fn transparency_is_composited_over_white() {
    // Fully transparent black, half-transparent black, opaque red.
    let img = RgbaImage::from_fn(3, 1, |x, _| match x {
        0 => Rgba([0, 0, 0, 0]),
        1 => Rgba([0, 0, 0, 128]),
        _ => Rgba([255, 0, 0, 255]),
    });
    let png = encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png);
    let p = prepare(&decode(&png).unwrap(), &spec(1, 3)).unwrap();
    assert_eq!(p.view.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(p.view.get_pixel(1, 0).0, [127, 127, 127]);
    assert_eq!(p.view.get_pixel(2, 0).0, [255, 0, 0]);
}

#[test]
fn sixteen_bit_png_matches_eight_bit() {
    let rgb8 = noise(16, 16, 4);
    let rgb16: ImageBuffer<Rgb<u16>, Vec<u16>> =
        ImageBuffer::from_fn(16, 16, |x, y| Rgb(rgb8.get_pixel(x, y).0.map(|v| u16::from(v) * 257)));
    let decoded16 = decode(&encode(&DynamicImage::ImageRgb16(rgb16), ImageFormat::Png)).unwrap();
    assert!(matches!(decoded16, DynamicImage::ImageRgb16(_)));
    let s = spec(8, 8);
    let a = prepare(&DynamicImage::ImageRgb8(rgb8), &s).unwrap();
    let b = prepare(&decoded16, &s).unwrap();
    for (x, y) in a.input.iter().zip(&b.input) {
        assert!((x - y).abs() <= 1.0 / 255.0 + 1e-6, "{x} vs {y}");
    }
}

#[test]
fn float_image_is_clamped_and_converted() {
    let img = ImageBuffer::from_fn(2, 1, |x, _| if x == 0 { Rgb([2.0f32, -1.0, 0.5]) } else { Rgb([f32::NAN, 0.0, 1.0]) });
    let p = prepare(&DynamicImage::ImageRgb32F(img), &spec(1, 2)).unwrap();
    assert_eq!(p.view.get_pixel(0, 0).0, [255, 0, 128]);
    assert_eq!(p.view.get_pixel(1, 0).0, [0, 0, 255]);
}

#[test]
fn wide_image_is_centre_cropped() {
    // 128×64: left and right quarters red, middle half blue. The shorter side (64) scales to
    // 32, so the image becomes 64×32 and the centre 32 columns, all blue, remain.
    let red_blue = RgbImage::from_fn(128, 64, |x, _| if (32..96).contains(&x) { Rgb([0, 0, 255]) } else { Rgb([255, 0, 0]) });
    let p = preprocess(&encode(&DynamicImage::ImageRgb8(red_blue), ImageFormat::Png), &spec(32, 32)).unwrap();
    assert_eq!(p.original_size, (128, 64));
    assert_eq!(p.crop, Crop { x: 32, y: 0, width: 64, height: 64 });
    assert_eq!((p.view.width(), p.view.height()), (32, 32));
    assert!(p.view.pixels().all(|px| px.0 == [0, 0, 255]));
    assert_eq!(&p.input[..1024], &[0.0; 1024][..]);
    assert_eq!(&p.input[2048..], &[1.0; 1024][..]);
}

#[test]
fn tall_image_and_non_square_model_crop_geometry() {
    // 40×100 into a square model: keep the middle 40 rows.
    let tall = RgbImage::from_fn(40, 100, |_, y| if (30..70).contains(&y) { Rgb([0, 255, 0]) } else { Rgb([0, 0, 0]) });
    let p = prepare(&DynamicImage::ImageRgb8(tall), &spec(20, 20)).unwrap();
    assert_eq!(p.crop, Crop { x: 0, y: 30, width: 40, height: 40 });
    assert!(p.view.pixels().all(|px| px.0 == [0, 255, 0]));
    // A square image into a 16 (high) × 32 (wide) model: keep the middle half of the rows.
    let square = DynamicImage::ImageRgb8(noise(64, 64, 5));
    let p = prepare(&square, &spec(16, 32)).unwrap();
    assert_eq!(p.crop, Crop { x: 0, y: 16, width: 64, height: 32 });
    assert_eq!((p.view.width(), p.view.height()), (32, 16));
    assert_eq!(p.input.len(), 3 * 16 * 32);
}

#[test]
fn normalisation_is_exact_and_chw() {
    let img = RgbImage::from_fn(2, 1, |x, _| if x == 0 { Rgb([0, 51, 255]) } else { Rgb([255, 102, 0]) });
    let s = InputSpec { size: [1, 2], channels: 3, mean: vec![0.5, 0.25, 0.0], std: vec![0.25, 0.5, 1.0] };
    let expected = [-2.0, 2.0, -0.1, 0.3, 1.0, 0.0];
    let got = normalize_rgb(&img, &s);
    assert_eq!(got.len(), 6);
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() < 1e-6, "{got:?} vs {expected:?}");
    }
    // prepare on a model-sized image changes nothing before normalising.
    assert_eq!(prepare(&DynamicImage::ImageRgb8(img), &s).unwrap().input, got);
}

/// A JPEG with an EXIF APP1 segment inserted after SOI, holding only the orientation tag.
fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let jpeg = encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Jpeg);
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian TIFF header, IFD at offset 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let payload = [b"Exif\0\0".as_slice(), &tiff].concat();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied() {
    // 32×16, red 8×8 block in the top-left corner, white elsewhere.
    let img = RgbImage::from_fn(32, 16, |x, y| if x < 8 && y < 8 { Rgb([255, 0, 0]) } else { Rgb([255, 255, 255]) });
    let is_red = |p: Rgba<u8>| p[0] > 200 && p[1] < 60 && p[2] < 60;
    use image::GenericImageView;

    let plain = decode(&jpeg_with_orientation(&img, 1)).unwrap();
    assert_eq!(plain.dimensions(), (32, 16));
    assert!(is_red(plain.get_pixel(4, 4)));

    // 6 = rotate 90° clockwise: (x, y) → (H-1-y, x). The top-left corner goes top-right.
    let rotated = decode(&jpeg_with_orientation(&img, 6)).unwrap();
    assert_eq!(rotated.dimensions(), (16, 32));
    assert!(is_red(rotated.get_pixel(12, 4)));
    assert!(!is_red(rotated.get_pixel(3, 4)));
    assert!(!is_red(rotated.get_pixel(12, 28)));
    // The crop is reported in the rotated image's pixels.
    let p = prepare(&rotated, &spec(8, 8)).unwrap();
    assert_eq!((p.original_size, p.crop), ((16, 32), Crop { x: 0, y: 8, width: 16, height: 16 }));
}

#[test]
fn the_oriented_size_comes_from_the_header_and_its_exif_rotation() {
    let img = RgbImage::new(32, 16);
    for (orientation, size) in [(1, (32, 16)), (3, (32, 16)), (6, (16, 32)), (8, (16, 32)), (5, (16, 32))] {
        assert_eq!(oriented_size(&jpeg_with_orientation(&img, orientation)).unwrap(), size, "orientation {orientation}");
    }
    // The header is enough: a JPEG cut after its header still gives its size (decode refuses it).
    let full = jpeg_with_orientation(&noise(256, 128, 9), 6);
    let cut = &full[..full.len() / 2];
    assert_eq!(oriented_size(cut).unwrap(), (128, 256));
    assert!(decode(cut).is_err());
    // The same refusals as decode for what is not an acceptable image.
    assert!(oriented_size(b"").unwrap_err().to_string().contains("empty file"));
    assert!(oriented_size(b"hello").unwrap_err().to_string().contains("not an image"));
    let huge = png_claiming(20_000, 20_000);
    assert!(oriented_size(&huge).unwrap_err().to_string().contains("image too large"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let png = encode(&DynamicImage::ImageRgba8(RgbaImage::from_fn(16, 16, |x, y| Rgba([x as u8, y as u8, 0, 200]))), ImageFormat::Png);
    let jpeg = encode(&DynamicImage::ImageRgb8(noise(16, 16, 6)), ImageFormat::Jpeg);
    let gif = encode(&DynamicImage::ImageRgb8(noise(16, 16, 7)), ImageFormat::Gif);
    let webp = encode(&DynamicImage::ImageRgba8(RgbaImage::new(16, 16)), ImageFormat::WebP);
    let bmp = encode(&DynamicImage::ImageRgb8(noise(16, 16, 8)), ImageFormat::Bmp);
    let valid = [png, jpeg, gif, webp, bmp];
    let mut rng = Lcg(42);
    let start = Instant::now();
    for i in 0..600 {
        let bytes: Vec<u8> = if i % 3 == 0 {
            // Pure noise, sometimes behind a real signature so a decoder gets to run.
            let len = rng.next() as usize % 512;
            let mut b: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            let magic = &valid[i / 3 % valid.len()][..12];
            if i % 2 == 0 && len >= 12 {
                b[..12].copy_from_slice(magic);
            }
            b
        } else {
            // A valid file with a few bytes flipped and maybe cut short.
            let mut b = valid[i % valid.len()].clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = rng.next() as usize % b.len();
                b[at] = rng.byte();
            }
            if i % 5 == 0 {
                b.truncate(rng.next() as usize % b.len());
            }
            b
        };
        if let Ok(img) = decode(&bytes) {
            prepare(&img, &spec(8, 8)).unwrap();
        }
    }
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
}

#[test]
fn input_spec_validation_names_the_field() {
    let good = spec(32, 32);
    assert!(good.validate().is_ok());
    let cases = [
        ("input.size", InputSpec { size: [0, 32], ..good.clone() }),
        ("input.size", InputSpec { size: [32, 2000], ..good.clone() }),
        ("input.channels", InputSpec { channels: 2, ..good.clone() }),
        ("input.mean", InputSpec { mean: vec![0.5], ..good.clone() }),
        ("input.std", InputSpec { std: vec![1.0, 0.0, 1.0], ..good.clone() }),
        ("input.std", InputSpec { std: vec![1.0, f32::NAN, 1.0], ..good.clone() }),
        ("input.mean", InputSpec { mean: vec![0.0, f32::INFINITY, 0.0], ..good.clone() }),
    ];
    for (field, s) in cases {
        match s.validate() {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{s:?}: expected a config error on {field}, got {other:?}"),
        }
        // prepare refuses an invalid spec instead of panicking.
        assert!(prepare(&DynamicImage::ImageRgb8(RgbImage::new(4, 4)), &s).is_err());
    }
}

#[test]
fn input_spec_json_defaults_to_rgb() {
    let s: InputSpec =
        serde_json::from_str(r#"{"size": [32, 32], "mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}"#).unwrap();
    assert_eq!(s.channels, 3);
    assert_eq!(s.size, [32, 32]);
    assert!(s.validate().is_ok());
}

//! Photos: decoded with limits, turned upright, stripped of every piece of metadata by re-encoding,
//! and given a thumbnail. The original bytes are not kept: EXIF carries GPS positions, device serial
//! numbers and capture times, none of which a story may hold.
//!
//! **A memory budget per photo.** A few hundred kilobytes of PNG can declare 7000 × 7000 pixels
//! (290 MB to decode). Before a single pixel is decompressed the declared size is checked against
//! the pixel limit and against a budget ([`cost`]: what decoding, turning and re-encoding hold at
//! once for that format and colour type); the server also caps how many photos decode at a time
//! (`Media::photo_decodes`), so photos together never hold more than budget × decodes.

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::{BufRead, Seek};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// JPEG quality of the stored photo and the thumbnail.
const QUALITY: u8 = 85;
/// Longest side accepted, whatever the pixel count (also passed to the decoders' own limits).
pub const MAX_SIDE: u32 = 20_000;

/// Default memory budget of one photo's decoding (`--image-decode-budget-bytes`).
pub const DEFAULT_BUDGET_BYTES: u64 = 256 * 1024 * 1024;
/// The most bytes per pixel [`cost`] counts for any photo: a 16-bit RGBA PNG (8 decoded + 3 for
/// its RGB copy + 1 for the JPEG written), or a progressive CMYK JPEG (3 decoded + 8 of
/// coefficients + 1).
pub const WORST_BYTES_PER_PIXEL: u64 = 12;
/// Default pixel limit (`--max-image-pixels`): 20 megapixels, so that the worst photo fits the
/// default budget (20 M × 12 B = 240 MB ≤ 256 MiB, input and thumbnail aside).
pub const DEFAULT_MAX_PIXELS: u64 = 20_000_000;
const _: () = assert!(DEFAULT_MAX_PIXELS * WORST_BYTES_PER_PIXEL <= DEFAULT_BUDGET_BYTES);

/// Room for the thumbnail and the decoders' small buffers.
const SLACK_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct PhotoLimits {
    /// Most pixels (width × height) a photo may have. A decompression bomb declares far more.
    pub max_pixels: u64,
    /// Most bytes decoding one photo may hold ([`cost`]).
    pub budget_bytes: u64,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        PhotoLimits {
            max_pixels: DEFAULT_MAX_PIXELS,
            budget_bytes: DEFAULT_BUDGET_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("not a photo in a supported format (JPEG, PNG or WebP)")]
    Unsupported,
    #[error("the photo is too large: {width} × {height} pixels (at most {max} pixels)")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error(
        "the photo would need more memory than allowed to decode: {width} × {height} pixels need \
         about {} MB (at most {} MB)", need / 1_000_000, budget / 1_000_000
    )]
    TooMuchMemory {
        width: u32,
        height: u32,
        need: u64,
        budget: u64,
    },
    #[error("the photo is damaged: {0}")]
    Corrupt(String),
    #[error("re-encoding the photo failed: {0}")]
    Encode(String),
}

/// A sanitised photo: JPEG bytes without metadata, upright, and its thumbnail.
pub struct Sanitised {
    pub jpeg: Vec<u8>,
    pub thumbnail: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

fn map_err(e: image::ImageError, width: u32, height: u32, budget: u64) -> PhotoError {
    match e {
        image::ImageError::Limits(_) => PhotoError::TooMuchMemory {
            width,
            height,
            need: u64::MAX,
            budget,
        },
        image::ImageError::Unsupported(_) => PhotoError::Unsupported,
        other => PhotoError::Corrupt(other.to_string()),
    }
}

/// The most bytes sanitising a photo holds at once: the input (JPEG and WebP decoders read it
/// whole), then the largest of the steps, each of which frees what came before it:
/// - decoding: the decoded pixels (`decoded_bpp` bytes each) plus the decoder's own work
///   (a progressive JPEG keeps every coefficient, 2 bytes per component; WebP an RGBA canvas);
/// - the RGB copy beside the decoded image (none when it decoded to RGB already);
/// - turning it upright (a rotated RGB copy);
///
/// plus the JPEG written (at most about a byte per pixel at quality 85) and some slack.
pub fn cost(width: u32, height: u32, decoded_bpp: u64, format: ImageFormat, input: u64) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    let decoder_work = match format {
        ImageFormat::Jpeg => 8,
        ImageFormat::WebP => 4,
        _ => 0,
    };
    let decode = decoded_bpp + decoder_work;
    let to_rgb = if decoded_bpp == 3 { 3 } else { decoded_bpp + 3 };
    let turn = 6;
    let per_pixel = decode.max(to_rgb).max(turn) + 1;
    let input_held = match format {
        ImageFormat::Png => 0,
        _ => input,
    };
    pixels
        .saturating_mul(per_pixel)
        .saturating_add(input_held)
        .saturating_add(SLACK_BYTES)
}

/// Decode (within `limits`), apply the EXIF orientation, and re-encode without metadata.
/// `input_len` is the size of what `reader` holds (it counts against the budget).
pub fn sanitise<R: BufRead + Seek>(
    reader: R,
    input_len: u64,
    limits: PhotoLimits,
) -> Result<Sanitised, PhotoError> {
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => return Err(PhotoError::Unsupported),
    };
    let mut reader = reader;
    // The decoders' own allocations (the PNG decoder's buffers) within the budget from the start;
    // the sides are checked below, with the declared size in the message.
    let mut l = Limits::default();
    l.max_alloc = Some(limits.budget_bytes);
    reader.limits(l.clone());
    // Only the header is read here.
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_err(e, 0, 0, limits.budget_bytes))?;
    // Refuse by the declared size, before a single pixel is decompressed.
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(PhotoError::Corrupt("the photo has no pixels".into()));
    }
    let bpp = u64::from(decoder.color_type().bytes_per_pixel());
    let need = cost(width, height, bpp, format, input_len);
    if need > limits.budget_bytes {
        return Err(PhotoError::TooMuchMemory {
            width,
            height,
            need,
            budget: limits.budget_bytes,
        });
    }
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    decoder
        .set_limits(l)
        .map_err(|e| map_err(e, width, height, limits.budget_bytes))?;
    let err = |e| map_err(e, width, height, limits.budget_bytes);
    let orientation = decoder.orientation().map_err(err)?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(err)?;
    // One RGB image from here on (the decoded one is freed), turned upright.
    let mut rgb = DynamicImage::ImageRgb8(decoded.into_rgb8());
    rgb.apply_orientation(orientation);
    let jpeg = encode_jpeg(&rgb)?;
    let thumbnail = encode_jpeg(&rgb.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE))?;
    Ok(Sanitised {
        jpeg,
        thumbnail,
        width: rgb.width(),
        height: rgb.height(),
    })
}

fn encode_jpeg(img: &DynamicImage) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::new();
    let encoder = JpegEncoder::new_with_quality(&mut out, QUALITY);
    img.write_with_encoder(encoder)
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sanitise_bytes(bytes: &[u8], limits: PhotoLimits) -> Result<Sanitised, PhotoError> {
        sanitise(Cursor::new(bytes), bytes.len() as u64, limits)
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_photo_becomes_a_jpeg_with_a_thumbnail() {
        let s = sanitise_bytes(&png(800, 600), PhotoLimits::default()).unwrap();
        assert_eq!((s.width, s.height), (800, 600));
        assert!(s.jpeg.starts_with(&[0xFF, 0xD8]));
        let thumb = image::load_from_memory(&s.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
    }

    #[test]
    fn too_many_pixels_are_refused_before_decoding() {
        let limits = PhotoLimits {
            max_pixels: 100 * 100,
            ..PhotoLimits::default()
        };
        assert!(matches!(
            sanitise_bytes(&png(200, 200), limits),
            Err(PhotoError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn other_formats_and_junk_are_refused() {
        assert!(matches!(
            sanitise_bytes(b"GIF89a....", PhotoLimits::default()),
            Err(PhotoError::Unsupported)
        ));
        assert!(sanitise_bytes(b"hello", PhotoLimits::default()).is_err());
    }

    /// A PNG that declares `side` × `side` RGBA pixels but holds only a few bytes of them: its
    /// header is valid, its pixel data is not. Refused for size, it was never decoded; decoded,
    /// it would fail as damaged.
    fn png_header_only(side: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in bytes {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let mut covered = kind.to_vec();
            covered.extend_from_slice(data);
            out.extend_from_slice(&crc32(&covered).to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = side.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&side.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
        chunk(&mut png, b"IHDR", &ihdr);
        // A zlib stream header and one stored block of two bytes: far too little.
        chunk(
            &mut png,
            b"IDAT",
            &[0x78, 0x01, 0x01, 0x02, 0x00, 0xFD, 0xFF, 0, 0],
        );
        chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn the_budget_refuses_before_anything_is_decoded() {
        let bomb = png_header_only(7000);
        // The default pixel limit (20 M) refuses 7000 × 7000 (49 M) by its header.
        assert!(matches!(
            sanitise_bytes(&bomb, PhotoLimits::default()),
            Err(PhotoError::TooManyPixels {
                width: 7000,
                height: 7000,
                ..
            })
        ));
        // With the pixel limit raised, the budget refuses it: 49 M pixels × (4 + 3 + 1) bytes.
        let raised = PhotoLimits {
            max_pixels: 50_000_000,
            ..PhotoLimits::default()
        };
        match sanitise_bytes(&bomb, raised) {
            Err(PhotoError::TooMuchMemory { need, budget, .. }) => {
                assert_eq!(budget, DEFAULT_BUDGET_BYTES);
                assert!(need >= 49_000_000 * 8, "{need}");
            }
            Err(e) => panic!("expected the budget to refuse it, got {e}"),
            Ok(_) => panic!("expected the budget to refuse it"),
        }
        // Refused before decoding: with room for it, the same file is decoded, and fails as the
        // damaged file it is.
        let roomy = PhotoLimits {
            max_pixels: 50_000_000,
            budget_bytes: 1 << 30,
        };
        assert!(matches!(
            sanitise_bytes(&png_header_only(2000), roomy),
            Err(PhotoError::Corrupt(_))
        ));
    }

    #[test]
    fn the_worst_photo_at_the_pixel_limit_fits_the_default_budget() {
        let side = (DEFAULT_MAX_PIXELS as f64).sqrt() as u32;
        for (bpp, format) in [
            (8, ImageFormat::Png),
            (4, ImageFormat::Png),
            (3, ImageFormat::Jpeg),
            (4, ImageFormat::WebP),
        ] {
            let need = cost(side, side, bpp, format, 0);
            assert!(need <= DEFAULT_BUDGET_BYTES, "{bpp} {format:?}: {need}");
            let per_pixel = (need - SLACK_BYTES) / (u64::from(side) * u64::from(side));
            assert!(per_pixel <= WORST_BYTES_PER_PIXEL, "{per_pixel}");
        }
    }
}

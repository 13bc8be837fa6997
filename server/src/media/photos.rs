//! Photos: decoded with limits, turned upright, stripped of every piece of metadata by re-encoding,
//! and given a thumbnail. The original bytes are not kept: EXIF carries GPS positions, device serial
//! numbers and capture times, none of which a story may hold.

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// JPEG quality of the stored photo and the thumbnail.
const QUALITY: u8 = 85;

#[derive(Debug, Clone, Copy)]
pub struct PhotoLimits {
    /// Most pixels (width × height) a photo may have. A decompression bomb declares far more.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        PhotoLimits {
            max_pixels: 50_000_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("not a photo in a supported format (JPEG, PNG or WebP)")]
    Unsupported,
    #[error("the photo is too large: {width} × {height} pixels (at most {max} pixels)")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("the photo would need more memory than allowed to decode")]
    TooMuchMemory,
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

fn map_err(e: image::ImageError) -> PhotoError {
    match e {
        image::ImageError::Limits(_) => PhotoError::TooMuchMemory,
        image::ImageError::Unsupported(_) => PhotoError::Unsupported,
        other => PhotoError::Corrupt(other.to_string()),
    }
}

/// Decode (within `limits`), apply the EXIF orientation, and re-encode without metadata.
pub fn sanitise(bytes: &[u8], limits: PhotoLimits) -> Result<Sanitised, PhotoError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => {}
        _ => return Err(PhotoError::Unsupported),
    }
    let mut reader = reader;
    let mut l = Limits::default();
    l.max_alloc = Some(limits.max_alloc);
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(map_err)?;
    // Refuse by the declared size, before a single pixel is decompressed.
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(PhotoError::Corrupt("the photo has no pixels".into()));
    }
    let orientation = decoder.orientation().map_err(map_err)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_err)?;
    img.apply_orientation(orientation);
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
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
        let s = sanitise(&png(800, 600), PhotoLimits::default()).unwrap();
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
            sanitise(&png(200, 200), limits),
            Err(PhotoError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn other_formats_and_junk_are_refused() {
        assert!(matches!(
            sanitise(b"GIF89a....", PhotoLimits::default()),
            Err(PhotoError::Unsupported)
        ));
        assert!(sanitise(b"hello", PhotoLimits::default()).is_err());
    }
}

//! A minimal PNG writer (8-bit greyscale), enough for sample grids, without an image crate.

use std::io::Write;

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend(kind);
    out.extend(data);
    out.extend(crc.finalize().to_be_bytes());
}

/// Encodes `pixels` (row-major, `width * height` bytes) as a greyscale PNG.
pub fn encode_gray(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    assert_eq!(
        pixels.len(),
        (width * height) as usize,
        "pixel count must match the size"
    );
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // bit depth 8, greyscale, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for row in pixels.chunks_exact(width as usize) {
        // Writing to a Vec cannot fail.
        let _ = z.write_all(&[0]);
        let _ = z.write_all(row);
    }
    chunk(&mut out, b"IDAT", &z.finish().unwrap_or_default());
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A grid of square images: one row per class, up to `per_class` samples each, each image
/// magnified `zoom` times, with a one-pixel gap. Values are mapped min..max → 0..255.
pub fn sample_grid(
    data: &crate::data::Dataset,
    side: usize,
    per_class: usize,
    zoom: usize,
) -> Vec<u8> {
    let (lo, hi) = data
        .features
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let cell = side * zoom + 1;
    let (w, h) = (per_class * cell + 1, data.num_classes * cell + 1);
    let mut img = vec![64u8; w * h];
    let mut filled = vec![0usize; data.num_classes];
    for i in 0..data.len() {
        let c = data.labels[i] as usize;
        if filled[c] == per_class {
            continue;
        }
        let (x0, y0) = (filled[c] * cell + 1, c * cell + 1);
        filled[c] += 1;
        for (p, &v) in data.row(i).iter().enumerate() {
            let g = (((v - lo) / span) * 255.0).round().clamp(0.0, 255.0) as u8;
            let (px, py) = (p % side, p / side);
            for dy in 0..zoom {
                let row = (y0 + py * zoom + dy) * w;
                for dx in 0..zoom {
                    img[row + x0 + px * zoom + dx] = g;
                }
            }
        }
    }
    encode_gray(w as u32, h as u32, &img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_has_signature_chunks_and_valid_crcs() {
        let png = encode_gray(2, 2, &[0, 255, 255, 0]);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let crc = crc32fast::hash(&png[12..29]);
        assert_eq!(&png[29..33], &crc.to_be_bytes());
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }
}

//! Reading back what an encoded file carries, so tests (and operators) can prove renditions
//! hold no metadata: no EXIF, XMP, ICC, comments or text chunks.

use crate::format::OutputFormat;

/// Names of the metadata segments/chunks found in an encoded file, e.g. `["APP1", "COM"]`
/// for a JPEG with EXIF and a comment. Empty means clean. JFIF's APP0 and PNG's structural
/// chunks are not metadata; anything unknown counts as metadata.
pub fn metadata_segments(bytes: &[u8], format: OutputFormat) -> Vec<String> {
    match format {
        OutputFormat::Jpeg => jpeg_segments(bytes),
        OutputFormat::Png => png_chunks(bytes),
        OutputFormat::Webp => webp_chunks(bytes),
    }
}

fn jpeg_segments(b: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 2; // after SOI
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            found.push("corrupt".into());
            break;
        }
        let marker = b[i + 1];
        if marker == 0xDA || marker == 0xD9 {
            break; // start of scan: headers are over
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        match marker {
            0xE0 if b.get(i + 4..i + 9) == Some(b"JFIF\0") => {}
            0xE0..=0xEF => found.push(format!("APP{}", marker - 0xE0)),
            0xFE => found.push("COM".into()),
            _ => {}
        }
        i += 2 + len;
    }
    found
}

fn png_chunks(b: &[u8]) -> Vec<String> {
    const STRUCTURAL: [&[u8; 4]; 5] = [b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS"];
    let mut found = Vec::new();
    let mut i = 8; // signature
    while i + 8 <= b.len() {
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let kind = &b[i + 4..i + 8];
        if !STRUCTURAL.iter().any(|s| s.as_slice() == kind) {
            found.push(String::from_utf8_lossy(kind).into_owned());
        }
        i += 12 + len;
    }
    found
}

fn webp_chunks(b: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut i = 12; // RIFF size WEBP
    while i + 8 <= b.len() {
        let kind = &b[i..i + 4];
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        if !matches!(kind, b"VP8 " | b"VP8L" | b"VP8X" | b"ALPH") {
            found.push(String::from_utf8_lossy(kind).into_owned());
        }
        i += 8 + len + (len & 1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exif_and_comments_in_jpeg() {
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend([0xFF, 0xE0, 0, 16]);
        jpeg.extend(b"JFIF\0");
        jpeg.extend([0; 9]);
        jpeg.extend([0xFF, 0xE1, 0, 8]);
        jpeg.extend(b"Exif\0\0");
        jpeg.extend([0xFF, 0xFE, 0, 4, b'h', b'i']);
        jpeg.extend([0xFF, 0xDA, 0, 2]);
        assert_eq!(
            metadata_segments(&jpeg, OutputFormat::Jpeg),
            vec!["APP1", "COM"]
        );
    }

    #[test]
    fn finds_text_chunks_in_png() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, len) in [(b"IHDR", 13u32), (b"tEXt", 3), (b"IDAT", 1), (b"IEND", 0)] {
            png.extend(len.to_be_bytes());
            png.extend(kind);
            png.extend(vec![0; len as usize + 4]);
        }
        assert_eq!(metadata_segments(&png, OutputFormat::Png), vec!["tEXt"]);
    }
}

//! Decoded images and their PNG encoding.

use crate::error::{DiffusionError, Result};

/// An 8-bit RGB image, rows top to bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let buf = image::RgbImage::from_raw(self.width, self.height, self.data.clone())
            .ok_or_else(|| DiffusionError::Image("pixel buffer has the wrong length".into()))?;
        let mut out = std::io::Cursor::new(Vec::new());
        buf.write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| DiffusionError::Image(e.to_string()))?;
        Ok(out.into_inner())
    }
}

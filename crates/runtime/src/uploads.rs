//! Keeping the images people bring (`POST /v1/assets`, `pressroom assets add`, a campaign's
//! `[media] files`, a CSV import) in the workspace's asset library, beside generated ones.
//!
//! An upload is outside input: it is decoded within [`DecodeLimits`] (the container sniffed
//! from its bytes, never trusted from a name or a header), turned upright by its EXIF
//! orientation, converted to sRGB, and stored re-encoded as PNG, so no metadata the camera
//! wrote (GPS position, serial numbers, EXIF, XMP) is kept or published. The same picture
//! uploaded twice is one asset.

use pressroom_core::{AssetId, WorkspaceId};
use pressroom_media::{DecodeLimits, MediaError};
use pressroom_store::repo::assets;
use pressroom_store::{BlobStore, Store};

use crate::images::{KeepError, sha256_hex};

/// The largest upload accepted, in bytes (a 100-megapixel camera JPEG is about 30 MB).
pub const MAX_UPLOAD_BYTES: usize = 40 * 1024 * 1024;

/// What an asset row of an upload says its generator was.
pub const UPLOAD_GENERATOR: &str = "upload";

/// Why an upload was not kept.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The bytes are not an image we accept; the message says why (for the person).
    #[error("{0}")]
    Image(String),
    /// Over [`MAX_UPLOAD_BYTES`].
    #[error("the file is {0} bytes, over the upload limit of {MAX_UPLOAD_BYTES} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Keep(#[from] KeepError),
}

impl From<pressroom_store::StoreError> for UploadError {
    fn from(e: pressroom_store::StoreError) -> Self {
        Self::Keep(KeepError::Store(e))
    }
}

/// An upload kept in the library.
#[derive(Debug, Clone)]
pub struct Kept {
    pub asset_id: AssetId,
    pub width: u32,
    pub height: u32,
    /// The same picture was uploaded before: its asset is answered, nothing new is stored.
    pub reused: bool,
}

/// Decodes, cleans and stores one uploaded image. `name` is what the person called it (a
/// file name), kept in the asset's parameters for them to recognise it.
///
/// # Errors
/// [`UploadError::Image`] for bytes that are empty, too large, not PNG/JPEG/WebP, corrupt or
/// over the decode limits; [`UploadError::Keep`] when storing failed.
pub async fn keep_upload(
    store: &Store,
    blobs: &dyn BlobStore,
    workspace_id: &WorkspaceId,
    bytes: Vec<u8>,
    name: &str,
) -> Result<Kept, UploadError> {
    let cleaned = tokio::task::spawn_blocking(move || clean(&bytes))
        .await
        .map_err(|e| UploadError::Image(format!("decoding failed: {e}")))??;
    let key = format!("upload:{}", cleaned.sha256);
    if let Some(earlier) = assets::by_generation_key(store, workspace_id, &key).await?
        && blobs.exists(&earlier.path).await
    {
        return Ok(Kept {
            asset_id: earlier.id,
            width: cleaned.width,
            height: cleaned.height,
            reused: true,
        });
    }
    let stored = blobs
        .put_content("assets", "png", &cleaned.png)
        .await
        .map_err(KeepError::from)?;
    let params = serde_json::json!({
        "source": UPLOAD_GENERATOR,
        "file_name": name,
        "format": cleaned.format,
        "original_bytes": cleaned.original_bytes,
        "original_sha256": cleaned.original_sha256,
        "converted_profile": cleaned.converted_profile,
    });
    let now = store.now_ms().await?;
    let asset_id = assets::insert(
        store.conn(),
        now,
        assets::NewAsset {
            workspace_id,
            sha256: &stored.sha256,
            generation_key: &key,
            generator: UPLOAD_GENERATOR,
            params: &params,
            path: &stored.key,
            width: cleaned.width,
            height: cleaned.height,
        },
    )
    .await?;
    // A row whose file was lost points at the file just written.
    if let Some(row) = assets::by_generation_key(store, workspace_id, &key).await?
        && row.path != stored.key
    {
        assets::replace_file(
            store.conn(),
            workspace_id,
            &row.id,
            &stored.sha256,
            &stored.key,
        )
        .await?;
    }
    Ok(Kept {
        asset_id,
        width: cleaned.width,
        height: cleaned.height,
        reused: false,
    })
}

/// Whether `bytes` would be kept (a campaign's files are checked before it is saved):
/// the image's size, or why it is refused.
///
/// # Errors
/// As [`keep_upload`]'s [`UploadError::Image`].
pub fn check_image(bytes: &[u8]) -> Result<(u32, u32), String> {
    clean(bytes)
        .map(|c| (c.width, c.height))
        .map_err(|e| e.to_string())
}

/// An upload decoded and re-encoded without its metadata.
struct Cleaned {
    png: Vec<u8>,
    sha256: String,
    width: u32,
    height: u32,
    format: String,
    original_bytes: usize,
    original_sha256: String,
    converted_profile: bool,
}

fn clean(bytes: &[u8]) -> Result<Cleaned, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Image("the file is empty".into()));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(UploadError::TooLarge(bytes.len()));
    }
    let decoded = pressroom_media::decode(bytes, &DecodeLimits::default())
        .map_err(|e: MediaError| UploadError::Image(e.to_string()))?;
    let png = pressroom_media::encode::png(&decoded.image)
        .map_err(|e| UploadError::Image(e.to_string()))?;
    let (width, height) = decoded.image.dimensions();
    Ok(Cleaned {
        sha256: sha256_hex(&png),
        png,
        width,
        height,
        format: format!("{:?}", decoded.format).to_ascii_lowercase(),
        original_bytes: bytes.len(),
        original_sha256: sha256_hex(bytes),
        converted_profile: decoded.converted_profile,
    })
}

#[cfg(test)]
mod tests {
    use super::{UploadError, clean};

    #[test]
    fn what_is_not_an_image_is_refused_with_the_reason() {
        let empty = clean(&[]).err().map(|e| e.to_string());
        assert_eq!(empty.as_deref(), Some("the file is empty"));
        let text = clean(b"hello, not an image").err();
        assert!(
            matches!(&text, Some(UploadError::Image(m)) if m.contains("PNG, JPEG or WebP")),
            "{text:?}"
        );
    }
}

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

use crate::images::{KeepError, Provenance, keep, sha256_hex};

/// The largest upload accepted, in bytes (a 100-megapixel camera JPEG is about 30 MB).
pub const MAX_UPLOAD_BYTES: usize = 40 * 1024 * 1024;

/// Uploads decoded at once in this process (each may need a few hundred MB).
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// What an upload may decode to: 100 megapixels (a 400 MB RGBA buffer at most), 12000 px a
/// side — any camera's photo, not a decompression bomb.
const UPLOAD_LIMITS: DecodeLimits = DecodeLimits {
    max_width: 12_000,
    max_height: 12_000,
    max_alloc: 400 * 1024 * 1024,
};

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
    // Decoding a large photo takes a few hundred MB for a moment: two at a time per process.
    let _permit = DECODING
        .acquire()
        .await
        .map_err(|e| UploadError::Image(format!("decoding failed: {e}")))?;
    let cleaned = tokio::task::spawn_blocking(move || clean(&bytes))
        .await
        .map_err(|e| UploadError::Image(format!("decoding failed: {e}")))??;
    let key = format!("upload:{}", cleaned.sha256);
    let earlier = assets::by_generation_key(store, workspace_id, &key).await?;
    if let Some(earlier) = &earlier
        && blobs.exists(&earlier.path).await
    {
        return Ok(Kept {
            asset_id: earlier.id.clone(),
            width: cleaned.width,
            height: cleaned.height,
            reused: true,
        });
    }
    let from = Provenance {
        workspace_id,
        generation_key: &key,
        generator: UPLOAD_GENERATOR,
        params: serde_json::json!({
            "source": UPLOAD_GENERATOR,
            "file_name": name,
            "format": cleaned.format,
            "original_bytes": cleaned.original_bytes,
            "original_sha256": cleaned.original_sha256,
            "converted_profile": cleaned.converted_profile,
        }),
    };
    // The same door as generated images: a row whose file was lost takes the new file.
    let picture = (cleaned.png.as_slice(), cleaned.width, cleaned.height);
    let (asset_id, _) = keep(store, blobs, from, picture, earlier.as_ref()).await?;
    Ok(Kept {
        asset_id,
        width: cleaned.width,
        height: cleaned.height,
        reused: false,
    })
}

/// Reads an image file named in a campaign's `[media] files` or a CSV's `media` column:
/// a relative path that stays inside `folder` (symbolic links resolved), naming a regular
/// file with an image extension, no larger than [`MAX_UPLOAD_BYTES`].
///
/// # Errors
/// Why the file is refused, in words for the person.
pub fn read_image_file(folder: &std::path::Path, written: &str) -> Result<Vec<u8>, String> {
    pressroom_core::campaign::check_media_path(written)?;
    let base = folder
        .canonicalize()
        .map_err(|e| format!("cannot read the folder {}: {e}", folder.display()))?;
    let path = base
        .join(written)
        .canonicalize()
        .map_err(|e| format!("cannot read: {e}"))?;
    if !path.starts_with(&base) {
        return Err("leads outside the folder (through a symbolic link)".into());
    }
    let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > MAX_UPLOAD_BYTES as u64 {
        return Err(format!(
            "the file is {} bytes, over the upload limit of {MAX_UPLOAD_BYTES} bytes",
            meta.len()
        ));
    }
    std::fs::read(&path).map_err(|e| format!("cannot read: {e}"))
}

/// The ids among `ids` that are not in the workspace's library, each with the reason (a
/// campaign's `[media] assets` are checked when it is saved, not first when it runs).
///
/// # Errors
/// A store error.
pub async fn not_in_library(
    store: &Store,
    workspace_id: &WorkspaceId,
    ids: &[AssetId],
) -> Result<std::collections::BTreeMap<String, String>, pressroom_store::StoreError> {
    let mut missing = std::collections::BTreeMap::new();
    for id in ids {
        match assets::get(store.conn(), workspace_id, id).await {
            Ok(_) => {}
            Err(pressroom_store::StoreError::NotFound { .. }) => {
                missing.insert(
                    id.to_string(),
                    "not in this workspace's library (GET /v1/assets lists it)".to_owned(),
                );
            }
            Err(e) => return Err(e),
        }
    }
    Ok(missing)
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
    let decoded = pressroom_media::decode(bytes, &UPLOAD_LIMITS)
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
    use super::{UploadError, clean, read_image_file};

    #[test]
    fn image_files_stay_inside_their_folder() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let folder = root.path().join("campaign");
        std::fs::create_dir_all(folder.join("photos"))?;
        std::fs::write(folder.join("photos/a.png"), b"png bytes")?;
        std::fs::write(root.path().join("secret.png"), b"not yours")?;
        std::fs::create_dir_all(folder.join("dir.png"))?;
        assert_eq!(read_image_file(&folder, "photos/a.png")?, b"png bytes");
        let refused = |written: &str| read_image_file(&folder, written).err().unwrap_or_default();
        assert!(refused("../secret.png").contains("without `..`"));
        let outside = root.path().join("secret.png").display().to_string();
        assert!(refused(&outside).contains("relative"));
        assert!(refused("photos/missing.png").contains("cannot read"));
        assert!(refused("dir.png").contains("not a regular file"));
        assert!(refused("notes.txt").contains("not a PNG, JPEG or WebP"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("secret.png"), folder.join("link.png"))?;
            assert!(refused("link.png").contains("outside the folder"));
        }
        Ok(())
    }

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

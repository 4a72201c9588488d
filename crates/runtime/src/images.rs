//! Making and keeping a workspace's image: one function for the pipeline's generate job and
//! the API's `/v1/images/generations` ([`generate_and_keep`]), so both reuse, generate and
//! store an image the same way. The file is
//! content-addressed (`assets/<sha256[..2]>/<sha256>.png` under the data directory), written
//! durably before the row that points at it, and the workspace has one asset row per
//! generation key.

use std::path::Path;

use pressroom_core::{AssetId, WorkspaceId};
use pressroom_generate::{
    GenerateError, GeneratedImage, GenerationRequest, Generator, ProgressFn, generation_key,
};
use pressroom_store::entity::asset;
use pressroom_store::repo::assets;
use pressroom_store::{Store, StoreError};

/// Why an image could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("writing {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why [`generate_and_keep`] has no image.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// The generator refused the request (its policy, its limits) or failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Keep(#[from] KeepError),
}

impl From<StoreError> for MakeError {
    fn from(e: StoreError) -> Self {
        Self::Keep(KeepError::Store(e))
    }
}

/// What [`generate_and_keep`] answers.
#[derive(Debug, Clone)]
pub struct Made {
    pub asset_id: AssetId,
    /// The PNG, relative to the data directory.
    pub path: String,
    /// An identical earlier request's stored image was reused: nothing was generated.
    pub reused: bool,
    /// The generator answered from its own cache (no model ran).
    pub generator_cache_hit: bool,
}

/// The workspace's image for `request`: the asset of an identical earlier request whose file
/// is still there, else a newly generated image kept with [`keep`] (taking over the earlier
/// row whose file was lost). The generator is asked first whether the request is admitted,
/// so a policy term added since an image was stored blocks its reuse too.
pub async fn generate_and_keep(
    store: &Store,
    data_dir: &Path,
    generator: &dyn Generator,
    workspace_id: &WorkspaceId,
    request: &GenerationRequest,
    progress: Option<ProgressFn>,
) -> Result<Made, MakeError> {
    generator.admit(request)?;
    let identity = generator.identity();
    let key = generation_key(&identity, request);
    let earlier = assets::by_generation_key(store, workspace_id, &key).await?;
    if let Some(a) = &earlier
        && tokio::fs::try_exists(data_dir.join(&a.path))
            .await
            .unwrap_or(false)
    {
        crate::metrics::cache("assets", true);
        return Ok(Made {
            asset_id: a.id.clone(),
            path: a.path.clone(),
            reused: true,
            generator_cache_hit: false,
        });
    }
    crate::metrics::cache("assets", false);
    let image = generator
        .generate_for(workspace_id, request.clone(), progress)
        .await?;
    crate::metrics::cache("generator", image.cache_hit);
    let from = Provenance {
        workspace_id,
        generation_key: &key,
        generator: &identity,
        request,
    };
    let (asset_id, path) = keep(store, data_dir, from, &image, earlier.as_ref()).await?;
    Ok(Made {
        asset_id,
        path,
        reused: false,
        generator_cache_hit: image.cache_hit,
    })
}

/// What produced the image: the generator's identity and the request, as the asset row
/// records them.
pub struct Provenance<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub generation_key: &'a str,
    pub generator: &'a str,
    pub request: &'a GenerationRequest,
}

/// The lowercase hex SHA-256 of `bytes` (file names and content hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes a file atomically (through a temporary file unique to this write, so a concurrent
/// write of the same content-addressed path never sees a half-written file) and durably
/// before the row that names it (see [`pressroom_store::files`]).
pub async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    pressroom_store::files::write_durably_async(path.to_path_buf(), bytes.to_vec()).await
}

/// Stores `image` and answers its asset id and file (relative to `data_dir`). `earlier` is the workspace's row for the same
/// generation key whose file was lost: it takes the new file (a deterministic generator wrote
/// the very same path again). Without one, a row is inserted (or, when an identical
/// generation recorded its image first, that row's id is answered).
pub async fn keep(
    store: &Store,
    data_dir: &Path,
    from: Provenance<'_>,
    image: &GeneratedImage,
    earlier: Option<&asset::Model>,
) -> Result<(AssetId, String), KeepError> {
    let sha = sha256_hex(&image.png);
    let rel = format!("assets/{}/{sha}.png", &sha[..2]);
    write_atomic(&data_dir.join(&rel), &image.png)
        .await
        .map_err(|source| KeepError::File {
            path: rel.clone(),
            source,
        })?;
    if let Some(a) = earlier {
        if a.path != rel {
            assets::replace_file(store.conn(), from.workspace_id, &a.id, &sha, &rel).await?;
        }
        return Ok((a.id.clone(), rel));
    }
    let now = store.now_ms().await?;
    let params = serde_json::to_value(from.request).unwrap_or_default();
    let asset_id = assets::insert(
        store.conn(),
        now,
        assets::NewAsset {
            workspace_id: from.workspace_id,
            sha256: &sha,
            generation_key: from.generation_key,
            generator: from.generator,
            params: &params,
            path: &rel,
            width: image.width,
            height: image.height,
        },
    )
    .await?;
    Ok((asset_id, rel))
}

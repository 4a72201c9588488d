//! Making and keeping a workspace's image: one function for the pipeline's generate job and
//! the API's `/v1/images/generations` ([`generate_and_keep`]), so both reuse, generate and
//! store an image the same way. The image is a content-addressed blob
//! (`assets/<sha256[..2]>/<sha256>.png` in the [`BlobStore`]), written durably before the row
//! that points at it, and the workspace has one asset row per generation key: the asset table
//! is the one image cache.

use pressroom_core::{AssetId, WorkspaceId};
use pressroom_generate::{GenerateError, GenerationRequest, Generator, ProgressFn, generation_key};
use pressroom_store::entity::asset;
use pressroom_store::repo::assets;
use pressroom_store::{BlobError, BlobStore, Store, StoreError};

pub use pressroom_store::blobs::sha256_hex;

/// Why an image could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("writing the image: {0}")]
    Blob(#[from] BlobError),
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
    /// The PNG's key in the blob store.
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
    blobs: &dyn BlobStore,
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
        && blobs.exists(&a.path).await
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
        params: serde_json::to_value(request).unwrap_or_default(),
    };
    let picture = (image.png.as_slice(), image.width, image.height);
    let (asset_id, path) = keep(store, blobs, from, picture, earlier.as_ref()).await?;
    Ok(Made {
        asset_id,
        path,
        reused: false,
        generator_cache_hit: image.cache_hit,
    })
}

/// What produced the image, as the asset row records it: the generator's identity (or
/// `upload`) and its parameters (the generation request, or the uploaded file's facts).
pub struct Provenance<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub generation_key: &'a str,
    pub generator: &'a str,
    pub params: serde_json::Value,
}

/// Stores a PNG of `width`×`height` and answers its asset id and blob key. `earlier` is the workspace's row for
/// the same generation key whose blob was lost: it takes the new blob (a deterministic
/// generator wrote the very same key again). Without one, a row is inserted (or, when an identical
/// generation recorded its image first, that row's id is answered).
pub async fn keep(
    store: &Store,
    blobs: &dyn BlobStore,
    from: Provenance<'_>,
    (png, width, height): (&[u8], u32, u32),
    earlier: Option<&asset::Model>,
) -> Result<(AssetId, String), KeepError> {
    let stored = blobs.put_content("assets", "png", png).await?;
    let (sha, rel) = (stored.sha256, stored.key);
    if let Some(a) = earlier {
        if a.path != rel {
            assets::replace_file(store.conn(), from.workspace_id, &a.id, &sha, &rel).await?;
        }
        return Ok((a.id.clone(), rel));
    }
    let now = store.now_ms().await?;
    let asset_id = assets::insert(
        store.conn(),
        now,
        assets::NewAsset {
            workspace_id: from.workspace_id,
            sha256: &sha,
            generation_key: from.generation_key,
            generator: from.generator,
            params: &from.params,
            path: &rel,
            width,
            height,
        },
    )
    .await?;
    Ok((asset_id, rel))
}

//! GDPR erasure of one workspace's personal data and generated content: runs (their
//! variables) and their reviews, assets and renditions, posts and attempts (captions), accounts (tokens and
//! platform identities), queued jobs and idempotency records (saved responses). Campaign definitions, hooks, API keys and the audit log stay:
//! they are the workspace's configuration and the record that the erasure happened.

use pressroom_core::WorkspaceId;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Value};
use serde::Serialize;

use crate::schema::{asset, rendition};
use crate::{BlobError, BlobStore, Result, Store};

/// What an erasure removed; `files` are blob keys to delete once the transaction has
/// committed ([`delete_files`]). Image files are content-addressed, so another workspace
/// may hold the same file: paths still referenced after the deletes are left out.
#[derive(Debug, Default, Serialize)]
pub struct Erased {
    pub runs: u64,
    pub assets: u64,
    pub renditions: u64,
    pub posts: u64,
    pub attempts: u64,
    pub accounts: u64,
    pub jobs: u64,
    pub idempotency_keys: u64,
    /// Reviews of the erased runs, with their links.
    pub reviews: u64,
    /// Fetched post metrics (every fetch of every post).
    pub post_metrics: u64,
    #[serde(skip)]
    pub files: Vec<String>,
}

/// Deletes the workspace's personal data inside the caller's transaction.
pub async fn erase_workspace<C: ConnectionTrait>(
    store: &Store,
    conn: &C,
    workspace_id: &WorkspaceId,
) -> Result<Erased> {
    let mut files: Vec<String> = asset::Entity::find()
        .select_only()
        .column(asset::Column::Path)
        .filter(asset::Column::WorkspaceId.eq(workspace_id))
        .into_tuple()
        .all(conn)
        .await?;
    let rendition_files: Vec<String> = rendition::Entity::find()
        .select_only()
        .column(rendition::Column::Path)
        .filter(rendition::Column::WorkspaceId.eq(workspace_id))
        .into_tuple()
        .all(conn)
        .await?;
    files.extend(rendition_files);
    let mut erased = Erased {
        files,
        ..Default::default()
    };
    // Children before parents.
    let mut review_links = 0;
    let tables: [(&str, &mut u64); 11] = [
        ("jobs", &mut erased.jobs),
        ("post_metrics", &mut erased.post_metrics),
        ("review_links", &mut review_links),
        ("reviews", &mut erased.reviews),
        ("attempts", &mut erased.attempts),
        ("posts", &mut erased.posts),
        ("renditions", &mut erased.renditions),
        ("assets", &mut erased.assets),
        ("runs", &mut erased.runs),
        ("accounts", &mut erased.accounts),
        ("idempotency_keys", &mut erased.idempotency_keys),
    ];
    for (table, count) in tables {
        let res = conn
            .execute_raw(store.stmt(
                &format!("DELETE FROM {table} WHERE workspace_id = $1"),
                vec![Value::from(workspace_id)],
            ))
            .await?;
        *count = res.rows_affected();
    }
    erased.files = unreferenced(conn, erased.files).await?;
    Ok(erased)
}

/// The paths among `files` (deduplicated) that no asset or rendition row refers to any more.
async fn unreferenced<C: ConnectionTrait>(conn: &C, mut files: Vec<String>) -> Result<Vec<String>> {
    files.sort();
    files.dedup();
    let still_used = super::blob_keys::referenced(conn, &files).await?;
    files.retain(|f| !still_used.contains(f));
    Ok(files)
}

/// What [`delete_files`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct FilesDeleted {
    pub deleted: u64,
    /// Referenced again since the erasure committed (another workspace stored the same
    /// content-addressed image meanwhile): left in place.
    pub kept: u64,
    /// Refused keys and failed deletes (logged; a leftover blob is only space).
    pub failed: u64,
}

/// Deletes an erasure's blobs ([`Erased::files`]) once its transaction has committed,
/// whichever store holds them. The keys are checked again first: between the erasure's
/// check and now another workspace may have stored the same content-addressed image, whose
/// row now names the key, and its blob must stay.
pub async fn delete_files(store: &Store, blobs: &dyn BlobStore, files: &[String]) -> FilesDeleted {
    let mut done = FilesDeleted::default();
    let still_used = match super::blob_keys::referenced(store.conn(), files).await {
        Ok(used) => used,
        Err(e) => {
            tracing::error!(files = files.len(), error = %e, "erase: could not check whether the files are still used; none deleted");
            done.failed = files.len() as u64;
            return done;
        }
    };
    for key in files {
        if still_used.contains(key) {
            done.kept += 1;
            continue;
        }
        match blobs.delete(key).await {
            Ok(true) => done.deleted += 1,
            Ok(false) => {}
            // A key that names something outside the blob store is refused there.
            Err(e @ BlobError::BadKey(_)) => {
                done.failed += 1;
                tracing::warn!(file = %key, error = %e, "erase: not a file of ours; left alone");
            }
            Err(e) => {
                done.failed += 1;
                tracing::error!(file = %key, error = %e, "erase: could not delete a file; delete it by hand");
            }
        }
    }
    done
}

//! Which blob keys the rows refer to: assets' and renditions' `path` (the only columns that
//! name blobs). Content-addressed keys are shared: two workspaces that made the same image
//! hold the same key, so these queries are deliberately across workspaces. They name keys,
//! never rows or their data: `pressroom storage migrate` copies every key, and the erasure
//! deletes a blob only when no row anywhere still names it.

use std::collections::{BTreeSet, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::Result;
use crate::schema::{asset, rendition};

/// Every key some row refers to, sorted, each once.
pub async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>> {
    let assets: Vec<String> = asset::Entity::find()
        .select_only()
        .column(asset::Column::Path)
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    let renditions: Vec<String> = rendition::Entity::find()
        .select_only()
        .column(rendition::Column::Path)
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    let keys: BTreeSet<String> = assets.into_iter().chain(renditions).collect();
    Ok(keys.into_iter().collect())
}

/// The keys among `keys` that some row, in any workspace, still refers to.
pub async fn referenced<C: ConnectionTrait>(conn: &C, keys: &[String]) -> Result<HashSet<String>> {
    let mut used = HashSet::new();
    // Bounded IN lists: PostgreSQL and SQLite both cap bind parameters per statement.
    for chunk in keys.chunks(500) {
        let assets: Vec<String> = asset::Entity::find()
            .select_only()
            .column(asset::Column::Path)
            .filter(asset::Column::Path.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        let renditions: Vec<String> = rendition::Entity::find()
            .select_only()
            .column(rendition::Column::Path)
            .filter(rendition::Column::Path.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        used.extend(assets);
        used.extend(renditions);
    }
    Ok(used)
}

//! One asset per (workspace, generation key). Two identical generations running at once (the
//! pipeline, or the images API) could each insert a row for the same image; a unique index now
//! lets the second insert find the first instead. Duplicates already stored are merged first:
//! the oldest row of each key stays, runs and renditions pointing at a newer one are moved to
//! it, and the newer rows are deleted (their file is the same content-addressed file).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_one_asset_per_generation_key"
    }
}

/// A row that an older row with the same key precedes (`a` is the outer row's alias).
const SUPERSEDED: &str = "EXISTS (SELECT 1 FROM assets older \
     WHERE older.workspace_id = a.workspace_id AND older.generation_key = a.generation_key \
     AND (older.created_at < a.created_at OR (older.created_at = a.created_at AND older.id < a.id)))";

/// The id of the row that stays for the key of asset `{col}`.
fn keeper_of(col: &str) -> String {
    format!(
        "(SELECT k.id FROM assets a JOIN assets k \
           ON k.workspace_id = a.workspace_id AND k.generation_key = a.generation_key \
         WHERE a.id = {col} ORDER BY k.created_at, k.id LIMIT 1)"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let superseded_ids = format!("SELECT a.id FROM assets a WHERE {SUPERSEDED}");
        for table in ["runs", "renditions"] {
            db.execute_unprepared(&format!(
                "UPDATE {table} SET asset_id = {} WHERE asset_id IN ({superseded_ids})",
                keeper_of(&format!("{table}.asset_id"))
            ))
            .await?;
        }
        db.execute_unprepared(&format!(
            "DELETE FROM assets WHERE id IN (SELECT id FROM ({superseded_ids}) AS gone)"
        ))
        .await?;
        // The unique index takes over the lookups of the plain one it replaces.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX assets_one_per_key ON assets (workspace_id, generation_key)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX assets_by_key").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX assets_by_key ON assets (workspace_id, generation_key)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX assets_one_per_key")
            .await?;
        Ok(())
    }
}

//! Every list in the API is a workspace's rows newest first, `ORDER BY id DESC` (ids are
//! UUIDv7, so id order is creation order) with `id < cursor` for the next page. The earlier
//! `(workspace_id, created_at)` indexes find the workspace's rows but not in id order, so both
//! databases sorted all of a workspace's rows on every page request: a cost that grew with
//! the workspace and showed in the read benchmark (crates/api/BENCHMARKS.md). With
//! `(workspace_id, id)` a page is an index walk that stops after `limit` rows. The audit log
//! is only ever read that way, so its `(workspace_id, created_at)` index goes: nothing reads
//! it, and every audit entry paid for writing it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_page_indexes"
    }
}

/// (index, table) of every table the API lists a page of.
const PAGE_INDEXES: [(&str, &str); 5] = [
    ("campaigns_page", "campaigns"),
    ("runs_page", "runs"),
    ("posts_page", "posts"),
    ("assets_page", "assets"),
    ("audit_log_page", "audit_log"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (index, table) in PAGE_INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX {index} ON {table} (workspace_id, id)"
            ))
            .await?;
        }
        db.execute_unprepared("DROP INDEX audit_by_workspace")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX audit_by_workspace ON audit_log (workspace_id, created_at)",
        )
        .await?;
        for (index, _) in PAGE_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {index}"))
                .await?;
        }
        Ok(())
    }
}

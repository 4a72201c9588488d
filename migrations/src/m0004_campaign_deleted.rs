//! Deleting a campaign is a soft delete: the row stays (runs, posts and the audit log point at
//! it) and `deleted_at` hides it from the API and the scheduler. Saving a campaign with the
//! same name again brings the row back.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_campaign_deleted"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE campaigns ADD COLUMN deleted_at BIGINT")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE campaigns DROP COLUMN deleted_at")
            .await?;
        Ok(())
    }
}

//! Pressroom's schema. One portable DDL dialect (TEXT ids, BIGINT epoch-millisecond times,
//! JSON as TEXT) so the same statements run on SQLite and PostgreSQL and the same queries
//! compare times as plain integers on both.

pub use sea_orm_migration::prelude::*;

/// A migration that is a list of portable SQL statements each way: defines the calling
/// module's `Migration`, named `$name`, which runs the module's `UP` or `DOWN` in order.
macro_rules! sql_migration {
    ($name:literal) => {
        pub struct Migration;

        impl sea_orm_migration::MigrationName for Migration {
            fn name(&self) -> &str {
                $name
            }
        }

        #[sea_orm_migration::async_trait::async_trait]
        impl sea_orm_migration::MigrationTrait for Migration {
            async fn up(
                &self,
                manager: &sea_orm_migration::SchemaManager,
            ) -> Result<(), sea_orm_migration::DbErr> {
                crate::execute_all(manager, UP).await
            }

            async fn down(
                &self,
                manager: &sea_orm_migration::SchemaManager,
            ) -> Result<(), sea_orm_migration::DbErr> {
                crate::execute_all(manager, DOWN).await
            }
        }
    };
}

mod m0001_initial;
mod m0002_api;
mod m0003_webhooks_out;
mod m0004_campaign_deleted;
mod m0005_one_asset_per_generation_key;
mod m0006_page_indexes;
mod m0007_idempotency_by_key;
mod m0008_jobs_due_at;
mod m0009_posts_by_remote_id;
mod m0010_people;
mod m0011_reviews;
mod m0012_post_formats;
mod m0013_post_cover;
mod m0014_insights;
mod m0015_review_flags;

/// Runs plain SQL statements in order: most migrations here are a list of portable statements.
async fn execute_all(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// All migrations, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_api::Migration),
            Box::new(m0003_webhooks_out::Migration),
            Box::new(m0004_campaign_deleted::Migration),
            Box::new(m0005_one_asset_per_generation_key::Migration),
            Box::new(m0006_page_indexes::Migration),
            Box::new(m0007_idempotency_by_key::Migration),
            Box::new(m0008_jobs_due_at::Migration),
            Box::new(m0009_posts_by_remote_id::Migration),
            Box::new(m0010_people::Migration),
            Box::new(m0011_reviews::Migration),
            Box::new(m0012_post_formats::Migration),
            Box::new(m0013_post_cover::Migration),
            Box::new(m0014_insights::Migration),
            Box::new(m0015_review_flags::Migration),
        ]
    }
}

//! `campaigns` rows.

use pressroom_core::{CampaignId, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: CampaignId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub source: String,
    pub source_file: Option<String>,
    pub spec: String,
    pub enabled: i32,
    pub schedule_checked_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when the campaign was deleted (soft: its runs and posts stay).
    pub deleted_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

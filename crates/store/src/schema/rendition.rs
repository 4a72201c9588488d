//! `renditions` rows.

use pressroom_core::{AssetId, RenditionId, RunId, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "renditions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: RenditionId,
    pub workspace_id: WorkspaceId,
    pub run_id: RunId,
    pub asset_id: AssetId,
    pub preset: String,
    pub fit: String,
    pub sha256: String,
    pub path: String,
    pub mime: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `assets` rows.

use pressroom_core::{AssetId, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "assets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AssetId,
    pub workspace_id: WorkspaceId,
    pub sha256: String,
    pub generation_key: String,
    pub generator: String,
    pub params: String,
    pub path: String,
    pub width: i32,
    pub height: i32,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

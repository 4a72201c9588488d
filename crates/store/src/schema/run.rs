//! `runs` rows.

use pressroom_core::{AssetId, CampaignId, RunId, RunState, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: RunId,
    pub workspace_id: WorkspaceId,
    pub campaign_id: CampaignId,
    pub fire_key: String,
    pub trigger: String,
    pub state: RunState,
    pub variables: String,
    pub prompt: Option<String>,
    pub caption: Option<String>,
    pub asset_id: Option<AssetId>,
    pub error: Option<String>,
    pub fire_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

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
    /// All of the run's images in order, a JSON array of ids (the first is `asset_id`);
    /// `None` for a run of one image.
    pub asset_ids: Option<String>,
}

impl Model {
    /// The run's images in order: several for a carousel, else its one (none before it is
    /// generated).
    pub fn asset_ids(&self) -> Vec<AssetId> {
        self.asset_ids
            .as_deref()
            .and_then(|raw| serde_json::from_str::<Vec<AssetId>>(raw).ok())
            .filter(|ids| !ids.is_empty())
            .unwrap_or_else(|| self.asset_id.iter().cloned().collect())
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

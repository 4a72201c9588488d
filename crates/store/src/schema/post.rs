//! `posts` rows.

use pressroom_core::{AccountId, Platform, PostId, PostState, RenditionId, RunId, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "posts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: PostId,
    pub workspace_id: WorkspaceId,
    pub run_id: RunId,
    pub account_id: AccountId,
    pub rendition_id: RenditionId,
    pub platform: Platform,
    pub preset: String,
    pub caption: String,
    pub state: PostState,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

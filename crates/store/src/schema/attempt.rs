//! `attempts` rows.

use pressroom_core::{AttemptId, AttemptState, PostId, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AttemptId,
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub state: AttemptState,
    pub checkpoint: Option<String>,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub commit_started_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

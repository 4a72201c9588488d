//! `jobs` rows.

use pressroom_core::{JobState, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub kind: String,
    pub payload: String,
    pub unique_key: Option<String>,
    pub state: JobState,
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: i64,
    /// When the job was first due; ready jobs are claimed in this order.
    pub due_at: i64,
    pub lease_owner: Option<String>,
    pub lease_token: i64,
    pub lease_expires_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

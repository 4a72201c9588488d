//! `post_metrics` rows: one fetch of one post's numbers (migration m0014).

use pressroom_core::{Platform, PostId, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "post_metrics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub post_id: PostId,
    pub platform: Platform,
    pub fetched_at: i64,
    /// `measured`, `not_yet` or `gone` ([`crate::repo::insights::Outcome`]).
    pub outcome: String,
    /// JSON object of the normalised metrics that were measured (`{}` otherwise).
    pub metrics: String,
    /// The platform's answer, JSON, as it came.
    pub raw: Option<String>,
    /// Why nothing was measured (`not_yet`), in the platform's or our words.
    pub note: Option<String>,
    /// The id the platform's metrics API knows the post by, when it differs from its remote id.
    pub metrics_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `reviews` rows.

use pressroom_core::{CampaignId, ReviewId, ReviewState, RunId, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "reviews")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ReviewId,
    pub workspace_id: WorkspaceId,
    pub run_id: RunId,
    pub campaign_id: CampaignId,
    pub state: ReviewState,
    /// 0 for the first candidates; +1 each time the reviewer asks to regenerate.
    pub round: i32,
    /// JSON array of the round's asset ids, in candidate order (empty while generating).
    pub candidates: String,
    /// JSON array of what the safety checker flagged in this round (`ReviewFlag`), if anything.
    pub flagged: Option<String>,
    pub deadline_at: i64,
    /// JSON of the decision (candidate, captions, reason), once decided.
    pub decision: Option<String>,
    /// `user:<email>`, `link:<name or id>`, `key:<id>` or `expiry`.
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `posts` rows.

use pressroom_core::{
    AccountId, CommentState, Platform, PostFormat, PostId, PostState, RenditionId, RunId,
    WorkspaceId,
};
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
    /// A feed post or a story.
    pub format: PostFormat,
    pub alt_text: Option<String>,
    /// Posted as a comment once the post is published, where the platform takes comments.
    pub first_comment: Option<String>,
    /// The first comment's own at-most-once state; `None` without a first comment.
    pub comment_state: Option<CommentState>,
    pub comment_id: Option<String>,
    /// When the comment call was first made (bounds the search for it after a crash).
    pub comment_started_at: Option<i64>,
    pub comment_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

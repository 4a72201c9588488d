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
    /// Alt text per image, a JSON array of strings (see [`Model::alt_texts`]).
    pub alt_texts: Option<String>,
    /// A carousel's renditions in order, a JSON array of ids (the first is `rendition_id`);
    /// `None` for a one-image post.
    pub rendition_ids: Option<String>,
    /// Posted as a comment once the post is published, where the platform takes comments.
    pub first_comment: Option<String>,
    /// The first comment's own at-most-once state; `None` without a first comment.
    pub comment_state: Option<CommentState>,
    pub comment_id: Option<String>,
    /// When the comment call was first made (bounds the search for it after a crash).
    pub comment_started_at: Option<i64>,
    pub comment_error: Option<String>,
    /// A carousel's cover image (0-based), where the platform takes one; `None`: the first.
    pub cover_index: Option<i32>,
    /// When the post was published (epoch ms); `None` until then.
    pub published_at: Option<i64>,
}

impl Model {
    /// The alt text of each image, in order (empty without alt text).
    pub fn alt_texts(&self) -> Vec<String> {
        self.alt_texts
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw).ok())
            .unwrap_or_default()
    }

    /// The renditions this post publishes, in order: a carousel's all, else its one.
    pub fn rendition_ids(&self) -> Vec<RenditionId> {
        self.rendition_ids
            .as_deref()
            .and_then(|raw| serde_json::from_str::<Vec<RenditionId>>(raw).ok())
            .filter(|ids| !ids.is_empty())
            .unwrap_or_else(|| vec![self.rendition_id.clone()])
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

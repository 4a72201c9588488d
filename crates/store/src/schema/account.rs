//! `accounts` rows.

use pressroom_core::{AccountId, AccountState, Platform, WorkspaceId};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AccountId,
    pub workspace_id: WorkspaceId,
    pub platform: Platform,
    pub name: String,
    pub external_id: String,
    pub state: AccountState,
    #[serde(skip)]
    pub access_token_sealed: Option<String>,
    #[serde(skip)]
    pub refresh_token_sealed: Option<String>,
    pub key_id: Option<String>,
    pub expires_at: Option<i64>,
    pub extra: String,
    pub state_reason: Option<String>,
    /// Why the account's post metrics cannot be read (a missing permission), until a fetch
    /// succeeds again.
    pub insights_problem: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

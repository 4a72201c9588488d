//! `webhook_endpoints` rows: where a workspace wants to hear about post events.

use pressroom_core::WorkspaceId;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub url: String,
    /// `whsec_…`; never serialized, never logged.
    pub secret: String,
    /// JSON array of event types.
    pub events: String,
    pub description: String,
    /// 1 while deliveries go out; 0 after a 410 Gone.
    pub enabled: i32,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `security_events`: alert-class events, written in the transaction that raised
//! them (the outbox's messages).

use sea_orm::entity::prelude::*;

/// One security event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "security_events")]
pub struct Model {
    /// Primary key (UUIDv7); also the Standard Webhooks message id (`msg_<hex>`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Tenant concerned; none for platform-level events.
    pub tenant_id: Option<Uuid>,
    /// Dotted event type (`refresh_token.reuse_detected`).
    pub kind: String,
    /// When it happened.
    pub occurred_at: DateTimeUtc,
    /// Non-secret details (JSON object).
    pub details: Json,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `audit_events`: the append-only record of security-relevant actions.

use sea_orm::entity::prelude::*;

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Primary key (UUIDv7: sorts by time).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Tenant the event belongs to; none for platform-level events.
    pub tenant_id: Option<Uuid>,
    /// When it happened.
    pub occurred_at: DateTimeUtc,
    /// Who did it (`api_key:<id>`, `admin_token`, `system`, `user:<id>`).
    pub actor: String,
    /// What was done, dotted (`client.created`).
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Client IP address, when known.
    pub ip: Option<String>,
    /// Client user agent, when known.
    pub user_agent: Option<String>,
    /// Further non-secret details as JSON.
    pub details: Json,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

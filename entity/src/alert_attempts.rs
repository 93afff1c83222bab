//! `alert_attempts`: the delivery log, one row per attempt.

use sea_orm::entity::prelude::*;

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_attempts")]
pub struct Model {
    /// Primary key (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The delivery attempted.
    pub delivery_id: Uuid,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// When it started.
    pub attempted_at: DateTimeUtc,
    /// Whether the receiver accepted it (2xx, or the mail server took it).
    pub succeeded: bool,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: i64,
    /// What went wrong (never a secret).
    pub error: Option<String>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

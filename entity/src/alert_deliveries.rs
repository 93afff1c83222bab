//! `alert_deliveries`: one security event to one channel (a webhook endpoint, or the
//! tenant's security contacts by email), with its retry schedule and worker lease.

use sea_orm::entity::prelude::*;

/// One delivery of one event over one channel.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_deliveries")]
pub struct Model {
    /// Primary key (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The event delivered.
    pub event_id: Uuid,
    /// `webhook` or `email`.
    pub channel: String,
    /// The webhook endpoint (for `webhook` deliveries).
    pub endpoint_id: Option<Uuid>,
    /// Email recipients (JSON array; empty for webhooks).
    pub recipients: Json,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts started so far.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTimeUtc,
    /// After this, a failed attempt marks the delivery failed instead of retrying.
    pub retry_until: DateTimeUtc,
    /// The worker holding the current attempt.
    pub lease_owner: Option<String>,
    /// When that worker's claim lapses (a crashed worker's attempt is retried then).
    pub lease_expires_at: Option<DateTimeUtc>,
    /// HTTP status of the last attempt, if it got one.
    pub last_status: Option<i32>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// When it was delivered or given up.
    pub completed_at: Option<DateTimeUtc>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

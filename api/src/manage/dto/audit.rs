//! The audit log.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object};
use tenancy::entity::audit_events;
use uuid::Uuid;

/// One audit event.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEventResponse {
    /// Event id.
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who acted (`api_key:<id>`, `admin_token`, `system`, `user:<id>`).
    pub actor: String,
    /// What was done, e.g. `client.created`.
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Client IP address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Non-secret details.
    pub details: serde_json::Value,
}

impl From<audit_events::Model> for AuditEventResponse {
    fn from(e: audit_events::Model) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            ip: e.ip,
            user_agent: e.user_agent,
            details: e.details,
        }
    }
}

/// A page of audit events.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEventPage {
    /// Events on this page, oldest first.
    pub items: Vec<AuditEventResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The audit log as newline-delimited JSON.
#[derive(ApiResponse)]
pub enum AuditExport {
    /// One audit event (as in `list_audit_events`) per line, oldest first.
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ndjson(poem_openapi::payload::Binary<poem::Body>),
}

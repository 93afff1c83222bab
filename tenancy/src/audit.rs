//! The audit log: every security-relevant action writes one event, in the same
//! transaction as the change it records, so the log can never disagree with the data.

use chrono::{DateTime, Utc};
use entity::audit_events;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::{
    Result, ids,
    pagination::{Page, PageRequest},
};

/// Who is acting and from where: attached to every audit event.
#[derive(Clone, Debug)]
pub struct Actor {
    /// `api_key:<id>`, `admin_token`, `system`, `user:<id>`.
    pub id: String,
    /// Client IP address, when known.
    pub ip: Option<String>,
    /// Client user agent, when known (truncated to 512 characters).
    pub user_agent: Option<String>,
}

impl Actor {
    /// The server itself (start-up, background jobs, the CLI).
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            ip: None,
            user_agent: None,
        }
    }
}

/// What happened, to be recorded by [`record`].
#[derive(Clone, Debug)]
pub struct Event<'a> {
    /// Tenant concerned; none for platform-level actions.
    pub tenant_id: Option<Uuid>,
    /// Dotted action name, e.g. `client.created`.
    pub action: &'a str,
    /// What the action was done to (`client:<client_id>`).
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: &'a str,
    /// Non-secret details.
    pub details: serde_json::Value,
}

impl<'a> Event<'a> {
    /// A successful action on `target` in `tenant_id`.
    pub fn success(tenant_id: Option<Uuid>, action: &'a str, target: impl Into<String>) -> Self {
        Self {
            tenant_id,
            action,
            target: Some(target.into()),
            outcome: "success",
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// Adds non-secret details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Writes one audit event (call it with the transaction that makes the change).
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    event: Event<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    audit_events::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(event.tenant_id),
        occurred_at: Set(now),
        actor: Set(actor.id.clone()),
        action: Set(event.action.to_owned()),
        target: Set(event.target),
        outcome: Set(event.outcome.to_owned()),
        ip: Set(actor.ip.clone()),
        user_agent: Set(actor
            .user_agent
            .as_ref()
            .map(|ua| ua.chars().take(512).collect())),
        details: Set(event.details),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A page of one tenant's audit events, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    page: PageRequest,
) -> Result<Page<audit_events::Model>> {
    let mut query =
        audit_events::Entity::find().filter(audit_events::Column::TenantId.eq(tenant_id));
    if let Some(after) = page.after {
        query = query.filter(audit_events::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(audit_events::Column::Id)
        .limit(page.fetch_limit())
        .all(db)
        .await?;
    Ok(page.finish(rows, |r| r.id))
}

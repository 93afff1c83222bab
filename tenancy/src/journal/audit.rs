//! The audit log: every security-relevant action writes one event, in the same
//! transaction as the change it records, so the log can never disagree with the data.
//!
//! Values that reach a row may come from unauthenticated requests (a presented
//! `client_id`, a user agent), so every row is made safe to store in `row`: each
//! text value (column or string inside `details`) is cut to [`MAX_VALUE_CHARS`]
//! characters ([`MAX_USER_AGENT_CHARS`] for the user agent), control characters
//! (NUL included, which Postgres `text` and `jsonb` refuse) become U+FFFD, and
//! `details` keeps at most [`MAX_DETAIL_ENTRIES`] entries per object or array and
//! [`MAX_DETAIL_DEPTH`] levels. The protocol endpoints refuse control characters with
//! a 400 before anything is stored; this is the second line.

use chrono::{DateTime, Utc};
use entity::audit_events;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::{
    Result,
    core::ids,
    core::pagination::{Page, PageRequest},
};

/// Who is acting and from where: attached to every audit event.
#[derive(Clone, Debug)]
pub struct Actor {
    /// `api_key:<id>`, `admin_token`, `system`, `user:<id>`.
    pub id: String,
    /// Client IP address, when known.
    pub ip: Option<String>,
    /// Client user agent, when known (stored cut to [`MAX_USER_AGENT_CHARS`]).
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
    // One INSERT without RETURNING: nothing is read back.
    audit_events::Entity::insert(row(actor, event, now))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Longest text value stored in an audit row, in characters (longer ones are cut).
pub const MAX_VALUE_CHARS: usize = 256;
/// Longest user agent stored, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 512;
/// Most entries kept per object or array in `details` (the rest are dropped).
pub const MAX_DETAIL_ENTRIES: usize = 32;
/// Deepest nesting kept in `details` (deeper values become `null`).
pub const MAX_DETAIL_DEPTH: usize = 4;

/// `value` cut to `max` characters, with control characters replaced by U+FFFD.
pub fn clean_text(value: &str, max: usize) -> String {
    value
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn clean_details(value: serde_json::Value, depth: usize) -> serde_json::Value {
    use serde_json::Value;
    if depth > MAX_DETAIL_DEPTH {
        return Value::Null;
    }
    match value {
        Value::String(s) => Value::String(clean_text(&s, MAX_VALUE_CHARS)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .take(MAX_DETAIL_ENTRIES)
                .map(|v| clean_details(v, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .take(MAX_DETAIL_ENTRIES)
                .map(|(k, v)| (clean_text(&k, MAX_VALUE_CHARS), clean_details(v, depth + 1)))
                .collect(),
        ),
        other => other,
    }
}

/// The row an event is stored as, with every value bounded and cleaned (see the
/// module docs).
pub(crate) fn row(
    actor: &Actor,
    event: Event<'_>,
    now: DateTime<Utc>,
) -> audit_events::ActiveModel {
    let text = |v: &str| clean_text(v, MAX_VALUE_CHARS);
    audit_events::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(event.tenant_id),
        occurred_at: Set(now),
        actor: Set(text(&actor.id)),
        action: Set(text(event.action)),
        target: Set(event.target.as_deref().map(text)),
        outcome: Set(text(event.outcome)),
        ip: Set(actor.ip.as_deref().map(text)),
        user_agent: Set(actor
            .user_agent
            .as_deref()
            .map(|ua| clean_text(ua, MAX_USER_AGENT_CHARS))),
        details: Set(clean_details(event.details, 0)),
    }
}

/// Which audit events to list; every field narrows the result.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Exact action (`user.login`), or a prefix ending in `.*` (`user.*`).
    pub action: Option<String>,
    /// Exact actor (`api_key:<id>`, `user:<id>`, `client:<id>`, `anonymous`, ...).
    pub actor: Option<String>,
    /// Exact target (`user:<id>`, `client:<id>`, ...).
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Events before this time.
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    /// Checks the filter's values.
    pub fn validate(&self) -> Result<()> {
        let mut problems = crate::core::validate::Problems::default();
        if let Some(outcome) = &self.outcome
            && !matches!(outcome.as_str(), "success" | "failure")
        {
            problems.add("outcome", "must be 'success' or 'failure'");
        }
        for (field, value) in [
            ("action", &self.action),
            ("actor", &self.actor),
            ("target", &self.target),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.len() > 200)
            {
                problems.add(field, "must be 1 to 200 characters");
            }
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since > until
        {
            problems.add("since", "must not be after 'until'");
        }
        problems.finish()
    }
}

/// A page of one tenant's audit events, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    page: PageRequest,
) -> Result<Page<audit_events::Model>> {
    list_filtered(db, tenant_id, &Filter::default(), page).await
}

/// A page of one tenant's audit events matching `filter`, oldest first.
pub async fn list_filtered(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: &Filter,
    page: PageRequest,
) -> Result<Page<audit_events::Model>> {
    filter.validate()?;
    let mut query =
        audit_events::Entity::find().filter(audit_events::Column::TenantId.eq(tenant_id));
    if let Some(action) = &filter.action {
        query = match action.strip_suffix('*') {
            Some(prefix) => query.filter(audit_events::Column::Action.starts_with(prefix)),
            None => query.filter(audit_events::Column::Action.eq(action)),
        };
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::Column::Actor.eq(actor));
    }
    if let Some(target) = &filter.target {
        query = query.filter(audit_events::Column::Target.eq(target));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(audit_events::Column::Outcome.eq(outcome));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_events::Column::OccurredAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::Column::OccurredAt.lt(until));
    }
    page.fetch(db, query, audit_events::Column::Id, |r| r.id)
        .await
}

/// Rows deleted per statement by the retention job.
pub const PURGE_BATCH: u64 = 1000;
/// Tenants looked at per retention step.
pub const PURGE_TENANTS: u64 = 100;

/// One step of the retention job: for up to [`PURGE_TENANTS`] tenants after `cursor`
/// (by id), deletes audit events older than the tenant's `audit_retention_days`, in
/// batches of [`PURGE_BATCH`]. Returns the rows deleted and the cursor to continue
/// from (none when the pass over all tenants is complete). Safe on every node at once:
/// deleting an already deleted row is a no-op.
pub async fn purge_expired(
    db: &impl ConnectionTrait,
    cursor: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(u64, Option<Uuid>)> {
    use entity::tenants;
    let mut query = tenants::Entity::find().order_by_asc(tenants::Column::Id);
    if let Some(after) = cursor {
        query = query.filter(tenants::Column::Id.gt(after));
    }
    let batch = query.limit(PURGE_TENANTS).all(db).await?;
    let mut deleted = 0;
    for tenant in &batch {
        let days = crate::core::TenantSettings::from_json(&tenant.settings).audit_retention_days;
        let cutoff = now - chrono::Duration::days(i64::from(days.max(1)));
        loop {
            let ids: Vec<Uuid> = audit_events::Entity::find()
                .filter(audit_events::Column::TenantId.eq(tenant.id))
                .filter(audit_events::Column::OccurredAt.lt(cutoff))
                .select_only()
                .column(audit_events::Column::Id)
                .limit(PURGE_BATCH)
                .into_tuple()
                .all(db)
                .await?;
            if ids.is_empty() {
                break;
            }
            let n = ids.len() as u64;
            deleted += audit_events::Entity::delete_many()
                .filter(audit_events::Column::Id.is_in(ids))
                .exec(db)
                .await?
                .rows_affected;
            if n < PURGE_BATCH {
                break;
            }
        }
    }
    let next = if (batch.len() as u64) < PURGE_TENANTS {
        None
    } else {
        batch.last().map(|t| t.id)
    };
    Ok((deleted, next))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_hold_bounded_values_without_control_characters() {
        let actor = Actor {
            id: format!("client:{}\0", "a".repeat(1000)),
            ip: Some("1.2.3.4".into()),
            user_agent: Some(format!("ua\u{7}{}", "u".repeat(2000))),
        };
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        let many: Vec<u32> = (0..100).collect();
        let event = Event {
            tenant_id: None,
            action: "token.refused",
            target: Some(format!("client:x\0y{}", "t".repeat(500))),
            outcome: "failure",
            details: json!({
                "grant_type": format!("\0{}", "g".repeat(300)),
                "deep": deep,
                "many": many,
            }),
        };
        let row = row(&actor, event, crate::test_support::now());
        let actor_id = row.actor.unwrap();
        assert_eq!(actor_id.chars().count(), MAX_VALUE_CHARS);
        assert!(!actor_id.contains('\0'));
        let target = row.target.unwrap().unwrap();
        assert_eq!(target.chars().count(), MAX_VALUE_CHARS);
        assert!(target.starts_with("client:x\u{fffd}y"));
        let ua = row.user_agent.unwrap().unwrap();
        assert_eq!(ua.chars().count(), MAX_USER_AGENT_CHARS);
        assert!(ua.starts_with("ua\u{fffd}"));
        let details = row.details.unwrap();
        let grant = details["grant_type"].as_str().unwrap();
        assert_eq!(grant.chars().count(), MAX_VALUE_CHARS);
        assert!(grant.starts_with('\u{fffd}'));
        assert_eq!(
            details["many"].as_array().unwrap().len(),
            MAX_DETAIL_ENTRIES
        );
        assert_eq!(details["deep"]["a"]["b"]["c"]["d"], serde_json::Value::Null);
    }
}

//! Security alerts: raising them, and their durable outbox.
//!
//! Code that notices something alert-worthy calls [`raise`] (or [`record_alerted`],
//! with its audit event) with the transaction that makes the change. `raise` writes
//! the event to `security_events` and, in the same transaction, one
//! `alert_deliveries` row per channel that wants it: each enabled webhook endpoint of
//! the tenant whose filter matches, and the tenant's security contacts by email. If
//! the transaction rolls back, no alert leaves; if it commits, the alert is on disk
//! and will be delivered even if the process dies the next instant (a transactional
//! outbox).
//!
//! By audience: this module is for the domain that raises alerts; [`outbox`] is for
//! the delivery workers; [`deliveries`] is for the management API (delivery logs,
//! redelivery, test events).

use chrono::{DateTime, Utc};
use entity::{alert_deliveries, security_events, tenants, webhook_endpoints};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionSession, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

pub use crate::journal::events::SecurityEvent;
use crate::{
    Result,
    core::TenantSettings,
    core::ids,
    journal::audit::{self, Actor, Event},
};

pub mod deliveries;
pub mod outbox;

use outbox::RETRY_WINDOW;

/// The event types Tessera raises (webhook endpoints filter on these).
pub mod kinds {
    /// Many failed sign-in steps (passwords, second factors, recovery codes) from one
    /// client address across accounts: it reached the tenant's
    /// `address_failure_threshold` and is refused until the window ends (raised once
    /// per address and window).
    pub const BRUTE_FORCE_DETECTED: &str = "brute_force.detected";
    /// An account (or a login name) reached the tenant's lockout threshold and is
    /// locked for a while.
    pub const ACCOUNT_LOCKED: &str = "account.locked";
    /// A used refresh token was presented again; its family was revoked.
    pub const REFRESH_TOKEN_REUSE: &str = "refresh_token.reuse_detected";
    /// A redeemed authorization code was presented again.
    pub const AUTHORIZATION_CODE_REUSE: &str = "authorization_code.reuse_detected";
    /// A second factor (authenticator app or passkey) was added to a user's account.
    pub const MFA_ADDED: &str = "mfa.added";
    /// A user's second factor was removed.
    pub const MFA_REMOVED: &str = "mfa.removed";
    /// A user's second factor was reset by an administrator.
    pub const MFA_RESET: &str = "mfa.reset";
    /// A user changed their password.
    pub const PASSWORD_CHANGED: &str = "password.changed";
    /// A user's password was reset (by an administrator or a recovery flow).
    pub const PASSWORD_RESET: &str = "password.reset";
    /// A management API key was created.
    pub const API_KEY_CREATED: &str = "api_key.created";
    /// A management API key was revoked.
    pub const API_KEY_REVOKED: &str = "api_key.revoked";
    /// A client's secret was rotated.
    pub const CLIENT_SECRET_ROTATED: &str = "client.secret_rotated";
    /// Signing keys were rotated (by an operator or on schedule).
    pub const SIGNING_KEY_ROTATED: &str = "signing_key.rotated";
    /// A signing key was revoked in an emergency.
    pub const SIGNING_KEY_REVOKED: &str = "signing_key.revoked";
    /// The tenant's signing algorithms or rotation schedule changed.
    pub const SIGNING_KEY_SETTINGS_CHANGED: &str = "signing_key.settings_changed";
    /// A test event sent on request through the management API.
    pub const WEBHOOK_TEST: &str = "webhook.test";

    /// Every event type, for validating endpoint filters.
    pub const ALL: &[&str] = &[
        BRUTE_FORCE_DETECTED,
        ACCOUNT_LOCKED,
        REFRESH_TOKEN_REUSE,
        AUTHORIZATION_CODE_REUSE,
        MFA_ADDED,
        MFA_REMOVED,
        MFA_RESET,
        PASSWORD_CHANGED,
        PASSWORD_RESET,
        API_KEY_CREATED,
        API_KEY_REVOKED,
        CLIENT_SECRET_ROTATED,
        SIGNING_KEY_ROTATED,
        SIGNING_KEY_REVOKED,
        SIGNING_KEY_SETTINGS_CHANGED,
        WEBHOOK_TEST,
    ];
}

/// Delivery channels.
pub mod channel {
    /// A signed POST to a webhook endpoint.
    pub const WEBHOOK: &str = "webhook";
    /// An email to the tenant's security contacts.
    pub const EMAIL: &str = "email";
}

/// Delivery states.
pub mod status {
    /// Waiting for its next attempt (or being attempted, while leased).
    pub const PENDING: &str = "pending";
    /// The receiver accepted it.
    pub const DELIVERED: &str = "delivered";
    /// Every attempt within the retry window failed.
    pub const FAILED: &str = "failed";
}

/// An event with a fresh id, for callers that build one by hand.
impl SecurityEvent {
    /// An event of `kind` about `tenant_id` at `now` with `details`.
    pub fn new(
        tenant_id: Option<Uuid>,
        kind: &str,
        details: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id,
            kind: kind.to_owned(),
            occurred_at: now,
            details,
        }
    }
}

/// Raises a security alert: records it and queues its deliveries, on `db` — pass
/// the transaction that makes the change so the alert commits (or not) with it.
///
/// ```ignore
/// let txn = db.begin().await?;
/// // ... the change, its audit event ...
/// tenancy::journal::alerts::raise(&txn, SecurityEvent::new(Some(tenant.id),
///     alerts::kinds::PASSWORD_CHANGED, json!({ "user_id": id }), now)).await?;
/// txn.commit().await?;
/// ```
pub async fn raise(db: &impl ConnectionTrait, event: SecurityEvent) -> Result<()> {
    queue(db, event, None).await.map(|_| ())
}

/// Records `event` in the audit log and raises the alert of `kind` it warrants (about
/// the event's tenant, with `details`), on `db`: the pair every security-relevant
/// change writes. Pass the change's transaction, so neither outlives a rolled-back
/// change nor goes missing after a committed one.
pub async fn record_alerted(
    db: &impl ConnectionTrait,
    actor: &Actor,
    event: Event<'_>,
    kind: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let tenant_id = event.tenant_id;
    audit::record(db, actor, event, now).await?;
    raise(db, SecurityEvent::new(tenant_id, kind, details, now)).await
}

/// [`record_alerted`] in a transaction of its own, for an event that is not part of
/// a change (a refused sign-in, a throttled address).
pub async fn record_and_raise<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: &Actor,
    event: Event<'_>,
    kind: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    record_alerted(&txn, actor, event, kind, details, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Writes the event and its deliveries; with `only`, just that endpoint (test events).
pub(super) async fn queue(
    db: &impl ConnectionTrait,
    event: SecurityEvent,
    only: Option<&webhook_endpoints::Model>,
) -> Result<(security_events::Model, Vec<alert_deliveries::Model>)> {
    let now = event.occurred_at;
    tracing::warn!(
        tenant_id = ?event.tenant_id,
        kind = %event.kind,
        details = %event.details,
        "security event"
    );
    let stored = security_events::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(event.tenant_id),
        kind: Set(event.kind.clone()),
        occurred_at: Set(now),
        details: Set(event.details),
    }
    .insert(db)
    .await?;
    let Some(tenant_id) = event.tenant_id else {
        return Ok((stored, Vec::new()));
    };
    let mut deliveries = Vec::new();
    let endpoints = match only {
        Some(endpoint) => vec![endpoint.clone()],
        None => webhook_endpoints::Entity::find()
            .filter(webhook_endpoints::Column::TenantId.eq(tenant_id))
            .filter(webhook_endpoints::Column::Enabled.eq(true))
            .all(db)
            .await?
            .into_iter()
            .filter(|e| wants(e, &event.kind))
            .collect(),
    };
    for endpoint in endpoints {
        deliveries.push(
            new_delivery(
                db,
                tenant_id,
                stored.id,
                channel::WEBHOOK,
                Some(endpoint.id),
                json!([]),
                now,
            )
            .await?,
        );
    }
    if only.is_none() {
        let contacts = tenants::Entity::find_by_id(tenant_id)
            .one(db)
            .await?
            .map(|t| TenantSettings::from_json(&t.settings).security_contacts)
            .unwrap_or_default();
        // One delivery per contact: each is retried on its own.
        for contact in contacts {
            deliveries.push(
                new_delivery(
                    db,
                    tenant_id,
                    stored.id,
                    channel::EMAIL,
                    None,
                    json!([contact]),
                    now,
                )
                .await?,
            );
        }
    }
    Ok((stored, deliveries))
}

/// Whether `endpoint`'s filter lets `kind` through (an empty filter takes all).
fn wants(endpoint: &webhook_endpoints::Model, kind: &str) -> bool {
    let types: Vec<String> =
        serde_json::from_value(endpoint.event_types.clone()).unwrap_or_default();
    types.is_empty() || types.iter().any(|t| t == kind)
}

async fn new_delivery(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    event_id: Uuid,
    channel: &str,
    endpoint_id: Option<Uuid>,
    recipients: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<alert_deliveries::Model> {
    Ok(alert_deliveries::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant_id),
        event_id: Set(event_id),
        channel: Set(channel.to_owned()),
        endpoint_id: Set(endpoint_id),
        recipients: Set(recipients),
        status: Set(status::PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        retry_until: Set(now + RETRY_WINDOW),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        completed_at: Set(None),
    }
    .insert(db)
    .await?)
}

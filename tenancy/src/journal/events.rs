//! Security events raised by the domain and delivered elsewhere.
//!
//! Raise alerts with [`crate::journal::alerts::raise`] inside the transaction of the change: it
//! writes the event to the durable outbox, from which the `webhooks` crate delivers
//! signed webhooks and email. [`EventSink`] remains for code outside a transaction;
//! the server's sink writes to the same outbox (on its own connection).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An alert-class event about one tenant (or the platform when `tenant_id` is none).
#[derive(Clone, Debug)]
pub struct SecurityEvent {
    /// The tenant concerned.
    pub tenant_id: Option<Uuid>,
    /// Dotted event type, e.g. `refresh_token.reuse_detected`.
    pub kind: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Non-secret details.
    pub details: serde_json::Value,
}

/// Where security events go once they are recorded.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Hands `event` over for delivery; must not block the request for long.
    async fn publish(&self, event: SecurityEvent);
}

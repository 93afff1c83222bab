//! Security events raised by the domain and delivered elsewhere.
//!
//! Raise alerts with [`crate::journal::alerts::raise`] inside the transaction of the change: it
//! writes the event to the durable outbox, from which the `webhooks` crate delivers
//! signed webhooks and email. There is no other way to raise one, so an alert cannot
//! outlive a rolled-back change nor be lost after a committed one.

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

//! Security-alert delivery, and the mailer every part of the server sends email with
//! ([`mail`]).
//!
//! Implements `tenancy`'s [`EventSink`]. Until the alerting work lands (durable outbox,
//! Standard Webhooks signing, retries, SSRF guard, email) events are written to the
//! structured log so operators still see them; no secrets are ever part of an event.

pub mod mail;

use async_trait::async_trait;
use tenancy::events::{EventSink, SecurityEvent};

/// An [`EventSink`] that records each security event in the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSink;

#[async_trait]
impl EventSink for LogSink {
    async fn publish(&self, event: SecurityEvent) {
        tracing::warn!(
            tenant_id = ?event.tenant_id,
            kind = %event.kind,
            occurred_at = %event.occurred_at,
            details = %event.details,
            "security event"
        );
    }
}

//! Security-alert delivery, and the mailer every part of the server sends email with
//! ([`mail`]).
//!
//! Alerts are written to a durable outbox by `tenancy::journal::alerts::raise`, in the
//! transaction of the change that raised them. This crate delivers them:
//! - [`delivery::Worker`] (every node runs one) takes due deliveries from the outbox,
//!   POSTs them to the tenant's webhook endpoints signed in the Standard Webhooks
//!   format ([`signing`]), or emails them to the tenant's security contacts, and
//!   records each attempt; failures are retried with backoff for a day;
//! - [`ssrf`] refuses targets on private, loopback, link-local and other internal
//!   addresses and pins the checked addresses for the connection;
//! - [`OutboxSink`] implements `tenancy`'s [`EventSink`] for code that raises an event
//!   outside a transaction.
//!
//! No secrets are ever part of an event, a log line or the delivery log.

pub mod delivery;
pub mod mail;
pub mod signing;
pub mod ssrf;

use async_trait::async_trait;
use tenancy::{
    DatabaseConnection,
    journal::events::{EventSink, SecurityEvent},
};

/// An [`EventSink`] that writes each event to the alert outbox on its own connection.
/// Prefer `tenancy::journal::alerts::raise` with the transaction of the change, so the alert
/// cannot outlive a rolled-back change (or be lost after a committed one).
#[derive(Clone, Debug)]
pub struct OutboxSink {
    db: DatabaseConnection,
}

impl OutboxSink {
    /// A sink over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EventSink for OutboxSink {
    async fn publish(&self, event: SecurityEvent) {
        let kind = event.kind.clone();
        if let Err(err) = tenancy::journal::alerts::raise(&self.db, event).await {
            tracing::error!(kind = %kind, error = %err, "could not queue a security event");
        }
    }
}

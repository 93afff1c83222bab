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
//!   addresses and pins the checked addresses for the connection.
//!
//! No secrets are ever part of an event, a log line or the delivery log.

pub mod delivery;
pub mod mail;
pub mod signing;
pub mod ssrf;

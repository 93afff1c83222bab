//! What happened, durably: the audit log (and its group writer), security alerts,
//! their webhook and email delivery (the outbox) and the event catalogue.
//!
//! Layering (see the crate doc): may import `core`, `runtime`, `crypto` and `cache`.

pub mod alerts;
pub mod audit;
pub mod audit_batch;
pub mod events;
pub mod webhooks;

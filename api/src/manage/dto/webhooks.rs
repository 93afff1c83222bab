//! Webhook endpoints, their deliveries and delivery attempts.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, payload::Json};
use secrecy::ExposeSecret;
use uuid::Uuid;

/// Body of `create_webhook`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// The receiver's URL (`https://...`). It must resolve to public addresses only
    /// (unless the server allows private targets).
    pub url: String,
    /// Free text for your operators (at most 500 characters).
    pub description: Option<String>,
    /// Event types to deliver (e.g. `account.locked`); omitted or empty for all.
    pub event_types: Option<Vec<String>>,
    /// Whether the endpoint receives events (default true).
    pub enabled: Option<bool>,
}

/// Body of `update_webhook`; omitted fields keep their value.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    /// New receiver URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New event-type filter (empty for all).
    pub event_types: Option<Vec<String>>,
    /// Enable or disable the endpoint.
    pub enabled: Option<bool>,
}

/// A webhook endpoint.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookResponse {
    /// Endpoint id.
    pub id: Uuid,
    /// The receiver's URL.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Event types delivered; empty means all.
    pub event_types: Vec<String>,
    /// Whether it receives events.
    pub enabled: bool,
    /// The signing secret (`whsec_...`): present only in the response that created
    /// the endpoint or rotated its secret. Verify deliveries with it as described by
    /// Standard Webhooks.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl WebhookResponse {
    /// Builds the response; `secret` only right after creation or rotation.
    pub fn new(
        e: tenancy::entity::webhook_endpoints::Model,
        secret: Option<secrecy::SecretString>,
    ) -> Self {
        Self {
            event_types: tenancy::journal::webhooks::event_types(&e),
            id: e.id,
            url: e.url,
            description: e.description,
            enabled: e.enabled,
            secret: secret.map(|s| s.expose_secret().to_owned()),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A page of webhook endpoints.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookPage {
    /// Endpoints on this page, oldest first.
    pub items: Vec<WebhookResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookDeliveryResponse {
    /// Delivery id.
    pub id: Uuid,
    /// The Standard Webhooks message id sent as `webhook-id` (the same on every attempt).
    pub message_id: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due (for pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status at the last attempt.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event was queued.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub completed_at: Option<DateTime<Utc>>,
}

impl WebhookDeliveryResponse {
    /// Builds the response from a delivery and its event.
    pub fn new(
        d: tenancy::entity::alert_deliveries::Model,
        event: Option<tenancy::entity::security_events::Model>,
    ) -> Self {
        Self {
            message_id: event
                .as_ref()
                .map(tenancy::journal::alerts::outbox::message_id)
                .unwrap_or_default(),
            event_type: event.map(|e| e.kind).unwrap_or_default(),
            next_attempt_at: (d.status == tenancy::journal::alerts::status::PENDING)
                .then_some(d.next_attempt_at),
            id: d.id,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            completed_at: d.completed_at,
        }
    }
}

/// A page of deliveries.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookDeliveryPage {
    /// Deliveries on this page, oldest first.
    pub items: Vec<WebhookDeliveryResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One delivery attempt (the delivery log).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookAttemptResponse {
    /// Attempt id.
    pub id: Uuid,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// Whether the receiver accepted it (a 2xx answer).
    pub succeeded: bool,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: i64,
    /// What went wrong.
    pub error: Option<String>,
}

impl From<tenancy::entity::alert_attempts::Model> for WebhookAttemptResponse {
    fn from(a: tenancy::entity::alert_attempts::Model) -> Self {
        Self {
            id: a.id,
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            succeeded: a.succeeded,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
        }
    }
}

/// A page of delivery attempts.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookAttemptPage {
    /// Attempts on this page, oldest first.
    pub items: Vec<WebhookAttemptResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_webhook` succeeded.
#[derive(ApiResponse)]
pub enum WebhookCreated {
    /// The new endpoint; `secret` is shown this once.
    #[oai(status = 201)]
    Created(Json<WebhookResponse>),
}

/// A delivery was queued (`send_test_webhook`, `redeliver_webhook`).
#[derive(ApiResponse)]
pub enum DeliveryQueued {
    /// Queued; the worker attempts it within seconds.
    #[oai(status = 202)]
    Accepted(Json<WebhookDeliveryResponse>),
}

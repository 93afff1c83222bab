//! Raising security alerts from handlers: the one place that hands alert-class events
//! (factor removal, MFA reset, password change, lockouts of second factors) to the
//! event sink, after the change and its audit event are committed.

use uuid::Uuid;

use crate::state::AppState;

/// Raises `kind` for `tenant_id` with non-secret `details`.
pub async fn raise(state: &AppState, tenant_id: Uuid, kind: &str, details: serde_json::Value) {
    state
        .events
        .publish(tenancy::events::SecurityEvent {
            tenant_id: Some(tenant_id),
            kind: kind.to_owned(),
            occurred_at: state.now(),
            details,
        })
        .await;
}

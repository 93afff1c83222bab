//! Pending authorization requests, kept in the cache while the user logs in and
//! consents, and bound to the browser session that started them so another browser
//! cannot finish them.
//!
//! A browser session has one pending interaction at a time ([`save_for_session`]):
//! its id is derived from the session's `sid`, so another authorization request (or
//! account-page visit) from the same session replaces it instead of storing one more.
//! A browser that reloads the authorize URL, or a script that replays one cookie,
//! never accumulates entries. The price: two tabs of one browser signing in at the
//! same moment share the slot, and the tab that started first continues with the
//! later request (its client then refuses the `state` and starts again).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Error, Result, cache::Cache, crypto::secrets, oauth::authorization::AuthorizationRequest,
};

const KIND: &str = "interaction";
/// How long a user has to finish logging in and consenting.
pub const INTERACTION_TTL: Duration = Duration::from_secs(600);

/// A pending request and the session it belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Interaction {
    /// The validated request.
    pub request: AuthorizationRequest,
    /// The `sid` of the session that started it.
    pub sid: String,
}

/// Stores the pending interaction of the session `interaction.sid`, replacing the one
/// that session had; returns its id (the same for every call of one session).
pub async fn save_for_session(
    cache: &dyn Cache,
    tenant_id: Uuid,
    interaction: &Interaction,
) -> Result<String> {
    let id = session_slot(&interaction.sid);
    put(cache, tenant_id, &id, interaction).await?;
    Ok(id)
}

/// The interaction id of a session: a hash of its `sid` (64 hex characters).
fn session_slot(sid: &str) -> String {
    secrets::sha256_hex(&format!("interaction-slot:{sid}"))
}

/// Replaces an interaction (after a step is done).
pub async fn put(
    cache: &dyn Cache,
    tenant_id: Uuid,
    id: &str,
    interaction: &Interaction,
) -> Result<()> {
    let bytes = serde_json::to_vec(interaction).map_err(|e| Error::Internal(e.to_string()))?;
    cache
        .set(&cache.key(tenant_id, KIND, id), &bytes, INTERACTION_TTL)
        .await
}

/// The interaction with this id, if it exists.
pub async fn load(cache: &dyn Cache, tenant_id: Uuid, id: &str) -> Result<Option<Interaction>> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(cache
        .get(&cache.key(tenant_id, KIND, id))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Forgets an interaction.
pub async fn finish(cache: &dyn Cache, tenant_id: Uuid, id: &str) -> Result<()> {
    cache
        .delete(&cache.key(tenant_id, KIND, id))
        .await
        .map(|_| ())
}

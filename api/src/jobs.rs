//! Background work every node runs: the signing-key lifecycle (promote due `next`
//! keys, start automatic rotations, remove expired `retired` keys).
//!
//! Safe on every node at once: each step claims its row with a conditional update, so
//! it happens exactly once however many nodes race for it. Work is found through
//! indexed due dates in batches, never by iterating tenants.

use std::time::Duration;

use tenancy::key_rotation;

use crate::state::AppState;

/// How often the lifecycle jobs look for due work.
pub const TICK: Duration = Duration::from_secs(1);

/// One pass over due key-lifecycle work; invalidates this node's cached keys of every
/// tenant it changed. Returns how many changes it made.
pub async fn run_key_lifecycle(state: &AppState) -> tenancy::Result<usize> {
    let now = state.now();
    let mut changed = key_rotation::promote_due(&state.db, now).await?;
    changed.extend(key_rotation::rotate_due(&state.db, &state.keyring, now).await?);
    changed.extend(key_rotation::remove_due(&state.db, now).await?);
    for tenant_id in &changed {
        keys_changed(state, *tenant_id).await;
    }
    Ok(changed.len())
}

/// The channel on which nodes announce key changes (payload: the tenant id).
pub const KEYS_CHANNEL: &str = "keys-changed";

/// Drops this node's cached keys of a tenant and tells the other nodes to do the same
/// (over Redis pub/sub; without Redis there are no other nodes). The cache lifetime
/// bounds staleness even if a notice is lost.
pub async fn keys_changed(state: &AppState, tenant_id: uuid::Uuid) {
    state.keys.invalidate(tenant_id).await;
    if let Err(err) = state
        .cache
        .publish(KEYS_CHANNEL, &tenant_id.to_string())
        .await
    {
        tracing::warn!(error = %err, "could not announce a key change; other nodes catch up within their cache lifetime");
    }
}

/// Listens for other nodes' key-change notices and drops the named tenants' cached
/// keys; reconnects after a pause when the subscription fails.
pub async fn key_change_listener(state: AppState) {
    let Some(url) = state.settings.redis_url.clone() else {
        return;
    };
    let channel = state.cache.channel(KEYS_CHANNEL);
    let (sink, mut notices) = tokio::sync::mpsc::unbounded_channel::<String>();
    let keys = state.keys.clone();
    let applier = tokio::spawn(async move {
        while let Some(payload) = notices.recv().await {
            if let Ok(tenant_id) = payload.parse::<uuid::Uuid>() {
                keys.invalidate(tenant_id).await;
            }
        }
    });
    loop {
        if let Err(err) = tenancy::cache::redis::listen(&url, &channel, &sink).await {
            tracing::warn!(error = %err, "key-change subscription lost; reconnecting");
        }
        if applier.is_finished() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs [`run_key_lifecycle`] every [`TICK`] until the process stops.
pub async fn key_lifecycle_loop(state: AppState) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Forget throttle buckets that have refilled, so memory follows active clients.
        state.login_limiter.retain_recent();
        if let Err(err) = run_key_lifecycle(&state).await {
            tracing::warn!(error = %err, "key lifecycle pass failed; retrying next tick");
        }
    }
}

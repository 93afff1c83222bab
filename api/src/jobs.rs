//! Background work every node runs: the signing-key lifecycle (promote due `next`
//! keys, start automatic rotations, remove expired `retired` keys), alert delivery
//! from the outbox, and audit-log retention.
//!
//! Safe on every node at once: each step claims its row with a conditional update (or
//! a `SKIP LOCKED` lease), so it happens exactly once however many nodes race for it.
//! Work is found through indexed due dates in batches; only the retention job walks
//! tenants, in batches with a cursor, every [`RETENTION_EVERY`].

use std::time::Duration;

use tenancy::keys::rotation;

use crate::state::AppState;

/// How often the lifecycle jobs look for due work.
pub const TICK: Duration = Duration::from_secs(1);

/// One pass over due key-lifecycle work; invalidates this node's cached keys of every
/// tenant it changed. Returns how many changes it made.
pub async fn run_key_lifecycle(state: &AppState) -> tenancy::Result<usize> {
    let now = state.now();
    let mut changed = rotation::promote_due(state.db(), now).await?;
    changed.extend(rotation::rotate_due(state.db(), &state.keyring, now).await?);
    changed.extend(rotation::remove_due(state.db(), now).await?);
    for tenant_id in &changed {
        tenant_changed(state, *tenant_id).await;
    }
    state
        .metrics
        .key_events
        .with_label_values(&["lifecycle_step"])
        .inc_by(changed.len() as u64);
    Ok(changed.len())
}

/// The channel on which nodes announce tenant changes: keys, settings, enabled
/// (payload: the tenant id).
pub const KEYS_CHANNEL: &str = "keys-changed";

/// Drops this node's cached keys and resolved settings of a tenant and tells the other
/// nodes to do the same (over Redis pub/sub; without Redis there are no other nodes).
/// The cache lifetimes bound staleness even if a notice is lost.
pub async fn tenant_changed(state: &AppState, tenant_id: uuid::Uuid) {
    state.keys.invalidate(tenant_id).await;
    // The directory is keyed by slug; tenant changes are rare, so forget them all.
    state.tenants.forget_all();
    if let Err(err) = state
        .cache
        .publish(KEYS_CHANNEL, &tenant_id.to_string())
        .await
    {
        tracing::warn!(error = %err, "could not announce a key change; other nodes catch up within their cache lifetime");
    }
}

/// Listens for other nodes' tenant-change notices and drops the named tenants' cached
/// keys and resolved settings; reconnects after a pause when the subscription fails.
pub async fn key_change_listener(state: AppState) {
    let Some(url) = state.settings.redis_url.clone() else {
        return;
    };
    let channel = state.cache.channel(KEYS_CHANNEL);
    let (sink, mut notices) = tokio::sync::mpsc::unbounded_channel::<String>();
    let keys = state.keys.clone();
    let tenants = state.tenants.clone();
    let applier = tokio::spawn(async move {
        while let Some(payload) = notices.recv().await {
            if let Ok(tenant_id) = payload.parse::<uuid::Uuid>() {
                keys.invalidate(tenant_id).await;
                tenants.forget_all();
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
        state.token_limiter.retain_recent();
        if let Err(err) = run_key_lifecycle(&state).await {
            tracing::warn!(error = %err, "key lifecycle pass failed; retrying next tick");
        }
    }
}

/// How often the alert worker looks for due deliveries when it found none.
pub const DELIVERY_TICK: Duration = Duration::from_millis(250);

/// Delivers due alerts (webhooks and email) until `stop` turns true: passes back to
/// back while there is work, then every [`DELIVERY_TICK`]. A pass that has started is
/// finished before the loop ends, so a draining node does not leave its claimed
/// deliveries to wait out their lease.
pub async fn alert_delivery_loop(
    state: AppState,
    worker: std::sync::Arc<webhooks::delivery::Worker>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match worker.run_once(state.now()).await {
            Ok(pass) if pass.attempts() > 0 => {
                let counter = &state.metrics.webhook_deliveries;
                counter
                    .with_label_values(&["delivered"])
                    .inc_by(pass.delivered);
                counter.with_label_values(&["failed"]).inc_by(pass.failed);
                continue;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "alert delivery pass failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(DELIVERY_TICK) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How often (on the server clock) a retention pass over all tenants starts.
pub const RETENTION_EVERY: chrono::Duration = chrono::Duration::minutes(10);

/// Deletes audit events past their tenant's retention period, in batches, until the
/// process stops. Each tick handles one batch of tenants; a pass over all tenants
/// starts every [`RETENTION_EVERY`] of server time.
pub async fn audit_retention_loop(state: AppState) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor = None;
    let mut next_pass = state.now();
    loop {
        ticker.tick().await;
        let now = state.now();
        if cursor.is_none() && now < next_pass {
            continue;
        }
        match tenancy::journal::audit::purge_expired(state.db(), cursor, now).await {
            Ok((deleted, next)) => {
                if deleted > 0 {
                    tracing::info!(deleted, "audit events past retention deleted");
                }
                cursor = next;
                if cursor.is_none() {
                    next_pass = now + RETENTION_EVERY;
                }
            }
            Err(err) => tracing::warn!(error = %err, "audit retention step failed; retrying"),
        }
    }
}

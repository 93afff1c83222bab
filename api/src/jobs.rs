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
        state.keys.invalidate(*tenant_id).await;
    }
    Ok(changed.len())
}

/// Runs [`run_key_lifecycle`] every [`TICK`] until the process stops.
pub async fn key_lifecycle_loop(state: AppState) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = run_key_lifecycle(&state).await {
            tracing::warn!(error = %err, "key lifecycle pass failed; retrying next tick");
        }
    }
}

//! The signing-key lifecycle: `next -> current -> retired -> removed`.
//!
//! - **Rotate** adds a `next` key per algorithm; it is published at once and starts
//!   signing only after the tenant's propagation delay (JWKS `max-age` plus a margin),
//!   so every relying party that honours `max-age` knows it before seeing a token.
//! - **Promote** makes a due `next` key `current` and retires the old one, which stays
//!   published until every token it signed has expired, then is **removed**.
//! - **Automatic rotation** starts a rotation when a `current` key is older than the
//!   tenant's period.
//! - **Revoke** is the emergency path: the key leaves the JWKS at once, tokens it
//!   signed stop verifying, and a replacement signs immediately.
//!
//! The due work is found by indexed timestamps (`activate_after`, `rotate_after`,
//! `remove_after`), never by walking tenants, and every step claims its row with a
//! conditional `UPDATE`, so the jobs can run on every node at once and each step
//! happens exactly once.

use chrono::{DateTime, Duration, Utc};
use entity::{signing_keys, tenants};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use serde_json::json;

use crate::{
    Error, Result,
    core::Algorithm,
    core::TenantCtx,
    core::TenantSettings,
    crypto::Keyring,
    journal::alerts::{self, SecurityEvent, kinds},
    journal::audit::{Actor, Event},
    keys::{self, KeyState, Schedule},
};

/// How many due keys one job pass handles.
pub const BATCH: u64 = 100;

/// The schedule of a key that becomes `current` at `now`.
pub fn current_schedule(settings: &TenantSettings, now: DateTime<Utc>) -> Schedule {
    Schedule {
        activate_after: None,
        rotate_after: Some(now + Duration::days(i64::from(settings.key_rotation_days))),
    }
}

async fn settings_of(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Option<TenantSettings>> {
    Ok(tenants::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .map(|t| TenantSettings::from_json(&t.settings)))
}

/// Publishes a `next` key for `alg`, signing after the propagation delay (at once when
/// `immediate`, for a tenant that accepts the risk to relying parties' caches).
async fn add_next<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant_id: Uuid,
    settings: &TenantSettings,
    alg: Algorithm,
    immediate: bool,
    now: DateTime<Utc>,
) -> Result<signing_keys::Model> {
    let generated = keys::generate(alg).await?;
    store_next(db, keyring, tenant_id, settings, generated, immediate, now).await
}

/// Stores `generated` as the `next` key (see `add_next`).
async fn store_next(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    tenant_id: Uuid,
    settings: &TenantSettings,
    generated: keys::GeneratedKey,
    immediate: bool,
    now: DateTime<Utc>,
) -> Result<signing_keys::Model> {
    let delay = if immediate {
        0
    } else {
        settings.key_propagation_secs
    };
    let schedule = Schedule {
        activate_after: Some(now + Duration::seconds(i64::from(delay))),
        rotate_after: None,
    };
    keys::store(
        db,
        keyring,
        tenant_id,
        generated,
        KeyState::Next,
        schedule,
        now,
    )
    .await
}

/// Whether `keys` hold a `next` key of `alg`: a rotation of it is already pending.
fn has_next(keys: &[signing_keys::Model], alg: Algorithm) -> bool {
    keys.iter()
        .any(|k| k.alg == alg.as_str() && k.state == KeyState::Next.as_str())
}

/// Starts a rotation of every algorithm of the tenant: a `next` key each (an algorithm
/// that already has one keeps it). With `immediate`, the new keys sign at once.
/// `generated` are keys made beforehand for the algorithms that had none pending (see
/// [`rotate_by`]); one missing is generated here, and one not needed is discarded.
pub async fn rotate<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant: &TenantCtx,
    settings: &TenantSettings,
    mut generated: Vec<keys::GeneratedKey>,
    immediate: bool,
    now: DateTime<Utc>,
) -> Result<Vec<signing_keys::Model>> {
    let existing = keys::list(db, tenant.id).await?;
    let mut added = Vec::new();
    for alg in settings.algorithms() {
        let pending = existing
            .iter()
            .find(|k| k.alg == alg.as_str() && k.state == KeyState::Next.as_str())
            .cloned();
        let made = generated
            .iter()
            .position(|g| g.alg() == alg)
            .map(|at| generated.swap_remove(at));
        let next = match (pending, made) {
            (Some(key), _) => key,
            (None, Some(made)) => {
                store_next(db, keyring, tenant.id, settings, made, immediate, now).await?
            }
            (None, None) => add_next(db, keyring, tenant.id, settings, alg, immediate, now).await?,
        };
        if immediate {
            promote(db, &next, settings, now).await?;
        }
        added.push(next);
    }
    Ok(added)
}

/// Publishes `next` keys for algorithms newly added to the tenant's list.
pub async fn add_missing_algorithms<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant: &TenantCtx,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Result<()> {
    let existing = keys::list(db, tenant.id).await?;
    for alg in settings.algorithms() {
        if !existing.iter().any(|k| k.alg == alg.as_str()) {
            add_next(db, keyring, tenant.id, settings, alg, false, now).await?;
        }
    }
    Ok(())
}

/// Makes `next` current and retires the previous current key of its algorithm.
/// Returns false when another node promoted it first.
async fn promote<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    next: &signing_keys::Model,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = db.begin().await?;
    let schedule = current_schedule(settings, now);
    let claimed = signing_keys::Entity::update_many()
        .col_expr(
            signing_keys::Column::State,
            Expr::value(KeyState::Current.as_str()),
        )
        .col_expr(signing_keys::Column::ActivatedAt, Expr::value(now))
        .col_expr(
            signing_keys::Column::ActivateAfter,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            signing_keys::Column::RotateAfter,
            Expr::value(schedule.rotate_after),
        )
        .filter(signing_keys::Column::Id.eq(next.id))
        .filter(signing_keys::Column::State.eq(KeyState::Next.as_str()))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(false);
    }
    signing_keys::Entity::update_many()
        .col_expr(
            signing_keys::Column::State,
            Expr::value(KeyState::Retired.as_str()),
        )
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(now))
        .col_expr(
            signing_keys::Column::RotateAfter,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            signing_keys::Column::RemoveAfter,
            Expr::value(now + settings.max_signed_token_lifetime()),
        )
        .filter(signing_keys::Column::TenantId.eq(next.tenant_id))
        .filter(signing_keys::Column::Alg.eq(&next.alg))
        .filter(signing_keys::Column::State.eq(KeyState::Current.as_str()))
        .filter(signing_keys::Column::Id.ne(next.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}

/// Promotes every `next` key whose propagation delay has passed; returns the tenants
/// whose signing keys changed.
pub async fn promote_due<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let due = signing_keys::Entity::find()
        .filter(signing_keys::Column::State.eq(KeyState::Next.as_str()))
        .filter(signing_keys::Column::ActivateAfter.lte(now))
        .order_by_asc(signing_keys::Column::ActivateAfter)
        .limit(BATCH)
        .all(db)
        .await?;
    let mut changed = Vec::new();
    for next in due {
        let Some(settings) = settings_of(db, next.tenant_id).await? else {
            continue;
        };
        if promote(db, &next, &settings, now).await? {
            changed.push(next.tenant_id);
        }
    }
    Ok(changed)
}

/// Starts automatic rotations for `current` keys older than their tenant's period.
pub async fn rotate_due<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let due = signing_keys::Entity::find()
        .filter(signing_keys::Column::State.eq(KeyState::Current.as_str()))
        .filter(signing_keys::Column::RotateAfter.lte(now))
        .limit(BATCH)
        .all(db)
        .await?;
    let mut changed = Vec::new();
    for current in due {
        let Some(alg) = Algorithm::parse(&current.alg) else {
            continue;
        };
        // Made before the transaction, so that no connection (SQLite has one) is held
        // while an RSA key is generated; a node that loses the claim discards it.
        let generated = keys::generate(alg).await?;
        // The claim, the new key and the alert commit together: a node that fails or
        // is stopped half-way leaves the key due for the next pass, never "claimed"
        // without a successor.
        let txn = db.begin().await?;
        // Claim the rotation: exactly one node clears the due date and rotates.
        let claimed = signing_keys::Entity::update_many()
            .col_expr(
                signing_keys::Column::RotateAfter,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(signing_keys::Column::Id.eq(current.id))
            .filter(signing_keys::Column::RotateAfter.is_not_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let Some(settings) = settings_of(&txn, current.tenant_id).await? else {
            continue;
        };
        let added = store_next(
            &txn,
            keyring,
            current.tenant_id,
            &settings,
            generated,
            false,
            now,
        )
        .await?;
        alerts::raise(
            &txn,
            SecurityEvent::new(
                Some(current.tenant_id),
                kinds::SIGNING_KEY_ROTATED,
                json!({ "kids": [added.kid], "immediate": false, "scheduled": true }),
                now,
            ),
        )
        .await?;
        txn.commit().await?;
        changed.push(current.tenant_id);
    }
    Ok(changed)
}

/// Removes retired keys whose tokens have all expired; returns the tenants affected.
pub async fn remove_due(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
    let due = signing_keys::Entity::find()
        .filter(signing_keys::Column::State.eq(KeyState::Retired.as_str()))
        .filter(signing_keys::Column::RemoveAfter.lte(now))
        .limit(BATCH)
        .all(db)
        .await?;
    let mut changed = Vec::new();
    for key in due {
        signing_keys::Entity::delete_by_id(key.id).exec(db).await?;
        changed.push(key.tenant_id);
    }
    Ok(changed)
}

/// Emergency revocation: removes the key from the JWKS at once (tokens it signed stop
/// verifying) and, if it was signing, makes a replacement sign immediately.
pub async fn revoke<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant: &TenantCtx,
    settings: &TenantSettings,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<signing_keys::Model> {
    let key = signing_keys::Entity::find()
        .filter(signing_keys::Column::TenantId.eq(tenant.id))
        .filter(signing_keys::Column::Kid.eq(kid))
        .one(db)
        .await?
        .ok_or(Error::NotFound("signing key"))?;
    signing_keys::Entity::delete_by_id(key.id).exec(db).await?;
    if key.state == KeyState::Current.as_str() {
        let alg = Algorithm::parse(&key.alg)
            .ok_or_else(|| Error::Internal("unknown key algorithm".into()))?;
        let pending = keys::list(db, tenant.id)
            .await?
            .into_iter()
            .find(|k| k.alg == key.alg && k.state == KeyState::Next.as_str());
        let next = match pending {
            Some(next) => next,
            None => add_next(db, keyring, tenant.id, settings, alg, true, now).await?,
        };
        promote(db, &next, settings, now).await?;
    }
    Ok(key)
}

/// [`rotate`] on behalf of `actor`, with its audit event in the same transaction.
pub async fn rotate_by<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant: &TenantCtx,
    settings: &TenantSettings,
    actor: &Actor,
    immediate: bool,
    now: DateTime<Utc>,
) -> Result<Vec<signing_keys::Model>> {
    // The cheap check that can fail comes first, with no transaction open: only an
    // algorithm without a pending rotation gets a key. The caller was authenticated
    // and the tenant found before this was called. Keys are generated before the
    // transaction, so no connection (SQLite has one) waits on RSA.
    let existing = keys::list(db, tenant.id).await?;
    let mut generated = Vec::new();
    for alg in settings.algorithms() {
        if !has_next(&existing, alg) {
            generated.push(keys::generate(alg).await?);
        }
    }
    let txn = db.begin().await?;
    let added = rotate(&txn, keyring, tenant, settings, generated, immediate, now).await?;
    let kids: Vec<_> = added.iter().map(|k| k.kid.clone()).collect();
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "signing_key.rotated",
            format!("tenant:{}", tenant.slug),
        )
        .with_details(json!({ "kids": kids, "immediate": immediate })),
        crate::journal::alerts::kinds::SIGNING_KEY_ROTATED,
        json!({ "kids": kids, "immediate": immediate, "scheduled": false }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(added)
}

/// [`revoke`] on behalf of `actor`, with its audit event in the same transaction.
pub async fn revoke_by<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    tenant: &TenantCtx,
    settings: &TenantSettings,
    actor: &Actor,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<signing_keys::Model> {
    let txn = db.begin().await?;
    let revoked = revoke(&txn, keyring, tenant, settings, kid, now).await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "signing_key.revoked",
            format!("signing_key:{kid}"),
        )
        .with_details(json!({ "alg": revoked.alg, "state": revoked.state })),
        crate::journal::alerts::kinds::SIGNING_KEY_REVOKED,
        json!({ "kid": revoked.kid, "alg": revoked.alg, "state": revoked.state }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(revoked)
}

//! TOTP (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, one step of skew either way
//! (§5.2). The seed is 160 random bits (RFC 4226 §4 recommends 160), stored encrypted
//! with the keyring and bound to its user by associated data.
//!
//! Enrolment keeps a fresh seed in the cache under the browser session that asked for
//! it (never in the user's row, so no other session, a pending sign-in with only the
//! password least of all, can see or confirm a seed someone else started) and shows
//! it (QR code and base32 text); a first valid code from that same session confirms
//! it and stores it, encrypted, as the user's factor. Every accepted code records its time step, and a code of
//! that step or an earlier one is refused afterwards (RFC 6238 §5.2: "the verifier MUST
//! NOT accept the second attempt of the OTP after the successful validation"). The
//! step is claimed with a conditional `UPDATE`, so two nodes racing on one code cannot
//! both accept it.

use chrono::{DateTime, Utc};
use entity::{user_totp, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, TransactionSession, TransactionTrait, sea_query::Expr,
};
use totp_rs::{Algorithm, Builder, Totp};
use uuid::Uuid;

use crate::{
    Error, Result,
    cache::Cache,
    core::MfaPolicy,
    core::TenantCtx,
    core::ids,
    crypto::Keyring,
    crypto::secrets,
    journal::audit::{self, Actor, Event},
};

const ENROLMENT_KIND: &str = "totp_enrolment";
/// How long a started enrolment waits for its first code.
pub const ENROLMENT_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// A started enrolment in the cache: whose it is and the seed, encrypted.
#[derive(serde::Serialize, serde::Deserialize)]
struct Started {
    user_id: Uuid,
    secret: String,
}

fn enrolment_key(cache: &dyn Cache, tenant: &TenantCtx, sid: &str) -> String {
    cache.key(tenant.id, ENROLMENT_KIND, &secrets::sha256_hex(sid))
}

async fn started(
    cache: &dyn Cache,
    keyring: &Keyring,
    tenant: &TenantCtx,
    user_id: Uuid,
    sid: &str,
) -> Result<Option<Vec<u8>>> {
    let Some(bytes) = cache.get(&enrolment_key(cache, tenant, sid)).await? else {
        return Ok(None);
    };
    let Ok(found) = serde_json::from_slice::<Started>(&bytes) else {
        return Ok(None);
    };
    if found.user_id != user_id {
        return Ok(None);
    }
    keyring
        .decrypt(&found.secret, &aad(tenant.id, user_id))
        .map(Some)
}

/// What the user needs to add the seed to an authenticator app.
pub struct Enrolment {
    /// The seed in base32 (for typing in by hand).
    pub secret_base32: String,
    /// The `otpauth://` URI the QR code holds.
    pub otpauth_uri: String,
    /// The QR code as an inline SVG document.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

fn aad(tenant_id: Uuid, user_id: Uuid) -> String {
    format!("totp:{tenant_id}:{user_id}")
}

/// otpauth labels must not contain ':' (Key Uri Format); keep them readable.
fn label(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| if c == ':' { '-' } else { c })
        .take(64)
        .collect();
    if cleaned.trim().is_empty() {
        "account".into()
    } else {
        cleaned
    }
}

fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(label(issuer)))
        .with_account_name(label(account))
        .build()
        .map_err(|e| Error::Internal(format!("TOTP setup failed: {e}")))
}

fn enrolment(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Enrolment> {
    let totp = totp(secret, issuer, account)?;
    let otpauth_uri = totp
        .to_url()
        .map_err(|e| Error::Internal(format!("TOTP URI failed: {e}")))?;
    Ok(Enrolment {
        secret_base32: totp.secret().to_base32(),
        qr_svg: super::qr::svg(&otpauth_uri)?,
        otpauth_uri,
    })
}

async fn row(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<Option<user_totp::Model>> {
    Ok(user_totp::Entity::find()
        .filter(user_totp::Column::TenantId.eq(tenant.id))
        .filter(user_totp::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

/// The user's confirmed TOTP factor, if any.
pub async fn confirmed(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<Option<user_totp::Model>> {
    Ok(row(db, tenant, user_id)
        .await?
        .filter(|r| r.confirmed_at.is_some()))
}

/// Shows the enrolment `user` started in the browser session `sid`, starting one (a
/// fresh seed) if that session has none. `issuer` is the name authenticator apps show
/// (the tenant's).
#[expect(
    clippy::too_many_arguments,
    reason = "the step's whole context: storage, keys, tenant, who, where, when"
)]
pub async fn enrolment_for(
    db: &impl ConnectionTrait,
    cache: &dyn Cache,
    keyring: &Keyring,
    tenant: &TenantCtx,
    actor: &Actor,
    user: &users::Model,
    sid: &str,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<Enrolment> {
    let account = user.email.clone().unwrap_or_else(|| user.username.clone());
    if confirmed(db, tenant, user.id).await?.is_some() {
        return Err(Error::Conflict(
            "an authenticator app is already set up".into(),
        ));
    }
    if let Some(secret) = started(cache, keyring, tenant, user.id, sid).await? {
        return enrolment(secret, issuer, &account);
    }
    let secret = secrets::random_bytes::<20>()?.to_vec();
    let value = Started {
        user_id: user.id,
        secret: keyring.encrypt(&secret, &aad(tenant.id, user.id))?,
    };
    let bytes = serde_json::to_vec(&value).map_err(|e| Error::Internal(e.to_string()))?;
    cache
        .set(&enrolment_key(cache, tenant, sid), &bytes, ENROLMENT_TTL)
        .await?;
    audit::record(
        db,
        actor,
        Event::success(
            Some(tenant.id),
            "user.totp_enrolment_started",
            format!("user:{}", user.id),
        ),
        now,
    )
    .await?;
    enrolment(secret, issuer, &account)
}

/// The time step `code` matches at `now` (±1 step), if any.
fn matching_step(secret: Vec<u8>, code: &str, now: DateTime<Utc>) -> Result<Option<i64>> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let Ok(time) = u64::try_from(now.timestamp()) else {
        return Ok(None);
    };
    let totp = totp(secret, "x", "x")?;
    Ok(totp
        .check(&code, time)
        .and_then(|step| i64::try_from(step).ok()))
}

/// Claims `step` for the row: true only if no code of this step or a later one was
/// accepted before.
async fn claim_step(db: &impl ConnectionTrait, row_id: Uuid, step: i64) -> Result<bool> {
    let claimed = user_totp::Entity::update_many()
        .col_expr(user_totp::Column::LastUsedStep, Expr::value(step))
        .filter(user_totp::Column::Id.eq(row_id))
        .filter(
            Condition::any()
                .add(user_totp::Column::LastUsedStep.is_null())
                .add(user_totp::Column::LastUsedStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// Confirms the enrolment started in session `sid` with a first valid code and stores
/// the seed as the user's factor (raising an `mfa.added` alert); false if the code is
/// wrong (or this session started nothing).
#[expect(
    clippy::too_many_arguments,
    reason = "the step's whole context: storage, keys, tenant, who, where, what, when"
)]
pub async fn confirm<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    cache: &dyn Cache,
    keyring: &Keyring,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    sid: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(secret) = started(cache, keyring, tenant, user_id, sid).await? else {
        return Ok(false);
    };
    let Some(step) = matching_step(secret.clone(), code, now)? else {
        return Ok(false);
    };
    let txn = db.begin().await?;
    match row(&txn, tenant, user_id).await? {
        Some(r) if r.confirmed_at.is_some() => return Ok(false),
        // A seed left unconfirmed by an older version gives way to this one.
        Some(r) => {
            user_totp::Entity::delete_by_id(r.id).exec(&txn).await?;
        }
        None => {}
    }
    user_totp::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        user_id: Set(user_id),
        secret: Set(keyring.encrypt(&secret, &aad(tenant.id, user_id))?),
        confirmed_at: Set(Some(now)),
        // The confirming code is used: it cannot sign in afterwards (RFC 6238 §5.2).
        last_used_step: Set(Some(step)),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.totp_enrolled",
            format!("user:{user_id}"),
        ),
        crate::journal::alerts::kinds::MFA_ADDED,
            serde_json::json!({ "user_id": user_id, "factor": "totp", "actor": actor.id, "ip": actor.ip }),
        now,
    )
    .await?;
    txn.commit().await?;
    cache.delete(&enrolment_key(cache, tenant, sid)).await?;
    Ok(true)
}

/// Checks a code against the user's confirmed seed; true once per time step.
pub async fn verify(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    tenant: &TenantCtx,
    user_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(factor) = confirmed(db, tenant, user_id).await? else {
        return Ok(false);
    };
    let secret = keyring.decrypt(&factor.secret, &aad(tenant.id, user_id))?;
    match matching_step(secret, code, now)? {
        Some(step) => claim_step(db, factor.id, step).await,
        None => Ok(false),
    }
}

/// Removes the user's TOTP factor (confirmed or pending); refused when it is the last
/// factor under the `required` policy.
pub async fn remove<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    policy: MfaPolicy,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let Some(existing) = row(&txn, tenant, user_id).await? else {
        return Err(Error::NotFound("authenticator app"));
    };
    if existing.confirmed_at.is_some() {
        super::ensure_removable(&txn, tenant, policy, user_id).await?;
    }
    user_totp::Entity::delete_by_id(existing.id)
        .exec(&txn)
        .await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.totp_removed",
            format!("user:{user_id}"),
        ),
        crate::journal::alerts::kinds::MFA_REMOVED,
        serde_json::json!({ "user_id": user_id, "factor": "totp", "actor": actor.id }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Re-encrypts every TOTP seed not yet under the current master key (master-key
/// rotation); returns how many were re-encrypted.
pub async fn reencrypt_all(db: &impl ConnectionTrait, keyring: &Keyring) -> Result<u64> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut done = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = user_totp::Entity::find().order_by_asc(user_totp::Column::Id);
        if let Some(id) = after {
            query = query.filter(user_totp::Column::Id.gt(id));
        }
        let batch = query.limit(200).all(db).await?;
        let Some(last) = batch.last() else {
            return Ok(done);
        };
        after = Some(last.id);
        for r in batch.iter().filter(|r| !keyring.is_current(&r.secret)) {
            let aad = aad(r.tenant_id, r.user_id);
            let fresh = keyring.encrypt(&keyring.decrypt(&r.secret, &aad)?, &aad)?;
            done += user_totp::Entity::update_many()
                .col_expr(user_totp::Column::Secret, Expr::value(fresh))
                .filter(user_totp::Column::Id.eq(r.id))
                .filter(user_totp::Column::Secret.eq(r.secret.clone()))
                .exec(db)
                .await?
                .rows_affected;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_one_step_either_side_only() {
        // RFC 6238 Appendix B test seed (SHA-1), 6-digit truncation of 94287082.
        let seed = b"12345678901234567890".to_vec();
        let at = DateTime::from_timestamp(59, 0).unwrap();
        assert_eq!(matching_step(seed.clone(), "287082", at).unwrap(), Some(1));
        let next = DateTime::from_timestamp(89, 0).unwrap();
        assert_eq!(
            matching_step(seed.clone(), "287 082", next).unwrap(),
            Some(1)
        );
        let later = DateTime::from_timestamp(150, 0).unwrap();
        assert_eq!(matching_step(seed.clone(), "287082", later).unwrap(), None);
        assert_eq!(matching_step(seed, "abc", at).unwrap(), None);
    }
}

//! Second factors: TOTP ([`totp`]), recovery codes ([`recovery`]) and passkeys
//! ([`passkeys`]), the tenant's MFA policy, and what a login's `amr`/`acr` say.
//!
//! Choices, written down here because the specifications leave them open:
//! - `amr` values follow RFC 8176: `pwd` (password), `otp` (a TOTP code, and also a
//!   recovery code, which is a one-time password too), `hwk`/`swk` (a passkey: `swk`
//!   when the authenticator says the credential is backed up, i.e. synced, software-held
//!   keys; `hwk` otherwise), and `mfa` whenever two independent factors were used —
//!   password plus a second factor, or a passkey with user verification (possession
//!   plus PIN or biometric), which webauthn-rs always requires.
//! - `acr` (OIDC Core §2) is [`ACR_MFA`](crate::core::amr::ACR_MFA) for a multi-factor session, else [`ACR_NONE`](crate::core::amr::ACR_NONE)
//!   (`"0"`: no assurance claimed beyond a single factor). An authorization request whose
//!   `acr_values` (OIDC Core §3.1.2.1) lists [`ACR_MFA`](crate::core::amr::ACR_MFA) demands MFA: the browser's
//!   session is stepped up (or the user enrols a factor first) before a code is issued.
//!   Under the `off` policy no factor is offered and the request gets `acr` `"0"`;
//!   relying parties must check the `acr` they receive, as OIDC Core requires.
//! - A user with a factor always completes it at login (policy `optional` or
//!   `required`); under `required` a user without one must enrol before the flow goes
//!   on; recovery codes alone are not a factor.

pub mod passkeys;
mod qr;
pub mod recovery;
pub mod totp;

use chrono::{DateTime, Utc};
use entity::{passkeys as passkey_rows, recovery_codes, user_totp};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use crate::core::amr::{AMR_HWK, AMR_OTP, AMR_SWK, is_mfa};
use crate::{
    Error, Result,
    core::MfaPolicy,
    core::TenantCtx,
    journal::audit::{Actor, Event},
};

/// How recent (seconds) the sign-in must be for the session to add a second factor.
pub const FRESH_PROOF_SECS: i64 = 300;

/// Whether a signed-in session may add a second factor at `now`: its sign-in is at
/// most [`FRESH_PROOF_SECS`] old and, when the user already has a factor, used one of
/// them (`otp`, `hwk` or `swk` in `amr`); for the first factor the password is enough.
/// Without it, a stolen session (or a password alone) could add an attacker's factor.
pub fn may_add_factor(
    session: &crate::accounts::sessions::Session,
    has_factor: bool,
    now: DateTime<Utc>,
) -> bool {
    let Some(auth_time) = session.auth_time.filter(|_| session.user_id.is_some()) else {
        return false;
    };
    if now.timestamp().saturating_sub(auth_time) > FRESH_PROOF_SECS {
        return false;
    }
    let used = |m: &str| session.amr.iter().any(|x| x == m);
    !has_factor || used(AMR_OTP) || used(AMR_HWK) || used(AMR_SWK)
}

/// Whether a signed-in session may go on where multi-factor is required: it is
/// multi-factor, or it enrolled a factor in this sign-in (a user made to enrol is not
/// asked for the new factor at once; the sign-in still gets `acr` `0`).
pub fn meets_mfa_requirement(session: &crate::accounts::sessions::Session) -> bool {
    is_mfa(&session.amr) || session.enrolled_factor
}

/// Whether a user who just proved a first factor must complete (or enrol) a second
/// one before a session exists.
pub fn second_factor_due(policy: MfaPolicy, has_factor: bool, request_demands_mfa: bool) -> bool {
    match policy {
        MfaPolicy::Off => false,
        MfaPolicy::Required => true,
        MfaPolicy::Optional => has_factor || request_demands_mfa,
    }
}

/// Whether a request must end in a multi-factor session.
pub fn mfa_required(policy: MfaPolicy, request_demands_mfa: bool) -> bool {
    match policy {
        MfaPolicy::Off => false,
        MfaPolicy::Required => true,
        MfaPolicy::Optional => request_demands_mfa,
    }
}

/// A user's second factors.
#[derive(Clone, Debug, Default)]
pub struct Factors {
    /// A confirmed TOTP seed exists.
    pub totp: bool,
    /// When TOTP was confirmed.
    pub totp_confirmed_at: Option<DateTime<Utc>>,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<passkey_rows::Model>,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
}

impl Factors {
    /// Whether the user has a second factor (recovery codes alone are not one).
    pub fn any(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }

    /// How many factors (TOTP counts once, each passkey once).
    pub fn count(&self) -> usize {
        usize::from(self.totp) + self.passkeys.len()
    }
}

/// The second factors of `user_id`.
pub async fn factors(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<Factors> {
    let totp = totp::confirmed(db, tenant, user_id).await?;
    let passkeys = passkey_rows::Entity::find()
        .filter(passkey_rows::Column::TenantId.eq(tenant.id))
        .filter(passkey_rows::Column::UserId.eq(user_id))
        .order_by_asc(passkey_rows::Column::Id)
        .all(db)
        .await?;
    let recovery_codes_left = recovery::remaining(db, tenant, user_id).await?;
    Ok(Factors {
        totp: totp.is_some(),
        totp_confirmed_at: totp.and_then(|t| t.confirmed_at),
        passkeys,
        recovery_codes_left,
    })
}

/// Refuses to remove the user's last factor under the `required` policy.
pub(crate) async fn ensure_removable(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    policy: MfaPolicy,
    user_id: Uuid,
) -> Result<()> {
    if policy == MfaPolicy::Required && factors(db, tenant, user_id).await?.count() <= 1 {
        return Err(Error::Conflict(
            "this is your last second factor and this organisation requires one".into(),
        ));
    }
    Ok(())
}

/// Deletes every second factor of a user (TOTP seed, passkeys, recovery codes) inside
/// the caller's transaction; returns how many rows went. For [`reset`] and for
/// deleting the user.
pub(crate) async fn forget_user(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
) -> Result<u64> {
    let mut removed = 0;
    removed += user_totp::Entity::delete_many()
        .filter(user_totp::Column::TenantId.eq(tenant.id))
        .filter(user_totp::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected;
    removed += passkey_rows::Entity::delete_many()
        .filter(passkey_rows::Column::TenantId.eq(tenant.id))
        .filter(passkey_rows::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected;
    removed += recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::TenantId.eq(tenant.id))
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected;
    Ok(removed)
}

/// Removes the factors the owner chose on the password-reset page, inside the reset's
/// transaction; returns how many rows went. The tenant's `required` policy does not
/// stop it: whoever controls the mailbox is the owner, and an attacker's authenticator
/// app or passkey must be removable; the owner enrols again at the next login.
pub(crate) async fn remove_for_recovery(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    removals: &crate::accounts::password_reset::Removals,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut removed = 0;
    let mut factors = Vec::new();
    if removals.totp {
        let n = user_totp::Entity::delete_many()
            .filter(user_totp::Column::TenantId.eq(tenant.id))
            .filter(user_totp::Column::UserId.eq(user_id))
            .exec(db)
            .await?
            .rows_affected;
        if n > 0 {
            factors.push(serde_json::json!({ "factor": "totp" }));
        }
        removed += n;
    }
    for passkey_id in &removals.passkeys {
        let n = passkey_rows::Entity::delete_many()
            .filter(passkey_rows::Column::TenantId.eq(tenant.id))
            .filter(passkey_rows::Column::UserId.eq(user_id))
            .filter(passkey_rows::Column::Id.eq(*passkey_id))
            .exec(db)
            .await?
            .rows_affected;
        if n > 0 {
            factors.push(serde_json::json!({ "factor": "passkey", "passkey_id": passkey_id }));
        }
        removed += n;
    }
    if removals.recovery_codes {
        let n = recovery_codes::Entity::delete_many()
            .filter(recovery_codes::Column::TenantId.eq(tenant.id))
            .filter(recovery_codes::Column::UserId.eq(user_id))
            .exec(db)
            .await?
            .rows_affected;
        if n > 0 {
            factors.push(serde_json::json!({ "factor": "recovery_codes" }));
        }
        removed += n;
    }
    if factors.is_empty() {
        return Ok(0);
    }
    crate::journal::alerts::record_alerted(
        db,
        actor,
        Event::success(
            Some(tenant.id),
            "user.mfa_removed_at_reset",
            format!("user:{user_id}"),
        )
        .with_details(serde_json::json!({ "removed": factors })),
        crate::journal::alerts::kinds::MFA_REMOVED,
            serde_json::json!({ "user_id": user_id, "factors": factors, "actor": actor.id, "via": "password reset" }),
        now,
    )
    .await?;
    Ok(removed)
}

/// Removes every second factor of a user (TOTP, passkeys, recovery codes), for an
/// administrator helping a user who lost them; returns whether anything was removed.
/// Under `required` the user enrols again at next login.
pub async fn reset<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = db.begin().await?;
    crate::accounts::users::get(&txn, tenant, user_id).await?;
    let removed = forget_user(&txn, tenant, user_id).await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(Some(tenant.id), "user.mfa_reset", format!("user:{user_id}"))
            .with_details(serde_json::json!({ "removed": removed })),
        crate::journal::alerts::kinds::MFA_RESET,
        serde_json::json!({ "user_id": user_id, "actor": actor.id, "removed": removed }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(removed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::amr::{ACR_MFA, ACR_NONE, acr_for, add_methods};

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_password_and_a_second_factor_make_mfa() {
        assert_eq!(
            add_methods(&v(&["pwd"]), &["otp"], false),
            v(&["pwd", "otp", "mfa"])
        );
        assert_eq!(add_methods(&v(&[]), &["hwk"], true), v(&["hwk", "mfa"]));
        assert_eq!(add_methods(&v(&["pwd"]), &["pwd"], false), v(&["pwd"]));
        assert_eq!(acr_for(&v(&["pwd"])), ACR_NONE);
        assert_eq!(acr_for(&v(&["pwd", "otp", "mfa"])), ACR_MFA);
    }

    #[test]
    fn the_policy_decides_when_a_second_factor_is_due() {
        assert!(!second_factor_due(MfaPolicy::Off, true, true));
        assert!(second_factor_due(MfaPolicy::Required, false, false));
        assert!(second_factor_due(MfaPolicy::Optional, true, false));
        assert!(second_factor_due(MfaPolicy::Optional, false, true));
        assert!(!second_factor_due(MfaPolicy::Optional, false, false));
    }
}

//! Password login. Unknown user, disabled user, user without a password and wrong
//! password all get the same answer after the same Argon2id work, so neither the
//! answer nor its timing tells whether an account exists.

use std::sync::OnceLock;

use entity::users;
use sea_orm::ConnectionTrait;

use crate::{Result, core::TenantCtx, crypto::secrets};

/// A valid Argon2id hash of a random value, verified against when there is no real
/// hash to check, so a miss costs what a hit costs.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::{Argon2, password_hash::PasswordHasher};
        let random = secrets::random_token("").unwrap_or_default();
        Argon2::default()
            .hash_password(random.as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// The user `login` (username or email, case-insensitive) if `password` is right and
/// the account is enabled; `None` otherwise, whatever the reason.
pub async fn verify(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    login: &str,
    password: &str,
) -> Result<Option<users::Model>> {
    let user = crate::accounts::users::find_by_login(db, tenant, login).await?;
    check_password(user, password).await
}

/// `user` (already looked up by its login name, so the lockout can be keyed on the
/// account) if `password` is right and the account is enabled; `None` otherwise, after
/// the same Argon2id work whatever the reason. [`crate::Error::Busy`] when the Argon2id
/// queue is full.
pub async fn check_password(
    user: Option<users::Model>,
    password: &str,
) -> Result<Option<users::Model>> {
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let password_ok = secrets::verify_password(password.to_owned(), hash).await?;
    Ok(user.filter(|u| password_ok && u.enabled && u.password_hash.is_some()))
}

/// Records a failed login (and, when it locked the name, the lockout and its
/// `account.locked` alert) in one transaction.
pub async fn record_failure<C: sea_orm::ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    actor: &crate::journal::audit::Actor,
    tenant: &TenantCtx,
    client_id: &str,
    locked_for: Option<std::time::Duration>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use sea_orm::TransactionSession;
    use serde_json::json;

    use crate::{
        journal::alerts::{self, SecurityEvent, kinds},
        journal::audit::{self, Event},
    };
    let txn = db.begin().await?;
    let failed = Event {
        tenant_id: Some(tenant.id),
        action: "user.login",
        target: None,
        outcome: "failure",
        details: json!({ "client_id": client_id }),
    };
    audit::record(&txn, actor, failed, now).await?;
    if let Some(duration) = locked_for {
        let details = json!({ "lockout_secs": duration.as_secs(), "ip": actor.ip });
        let locked = Event {
            tenant_id: Some(tenant.id),
            action: "user.login_locked",
            target: None,
            outcome: "failure",
            details: details.clone(),
        };
        audit::record(&txn, actor, locked, now).await?;
        alerts::raise(
            &txn,
            SecurityEvent::new(Some(tenant.id), kinds::ACCOUNT_LOCKED, details, now),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Notes that an address reached its tenant's threshold of failed sign-in steps
/// across accounts (credential stuffing; [`crate::accounts::lockout::address_failed`] reports
/// that once per address and window): audited as `login.throttled` and raised as a
/// `brute_force.detected` alert. Later refusals in the window are not recorded again.
pub async fn record_throttled_address<C: sea_orm::ConnectionTrait + sea_orm::TransactionTrait>(
    db: &C,
    actor: &crate::journal::audit::Actor,
    tenant: &TenantCtx,
    ip: std::net::IpAddr,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use serde_json::json;

    use crate::{
        journal::alerts::{self, SecurityEvent, kinds},
        journal::audit::Event,
    };
    let address = crate::core::limits::address_key(ip);
    let details =
        json!({ "ip": address, "reason": "too many failed sign-in attempts from this address" });
    alerts::record_and_raise(
        db,
        actor,
        Event {
            tenant_id: Some(tenant.id),
            action: "login.throttled",
            target: Some(format!("ip:{address}")),
            outcome: "failure",
            details: details.clone(),
        },
        SecurityEvent::new(Some(tenant.id), kinds::BRUTE_FORCE_DETECTED, details, now),
    )
    .await
}

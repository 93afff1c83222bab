//! Password reset by email (OWASP Forgot Password Cheat Sheet): a request names an
//! account by username or email and, if it exists, is enabled and has an address, a
//! 30-minute single-use link is emailed. The answer to the requester is the same
//! whether or not anything was sent. Completing the reset sets the new password and
//! revokes every refresh token of the user; the caller also ends the user's sessions
//! and lifts a login lockout, since the owner has just proved control of the mailbox.
//!
//! Recovery must be able to evict an attacker who had the account:
//! - A link is bound to the address it was sent to: it works only while that address
//!   is still the user's (an email change also supersedes it, see `users::update`).
//! - The reset page lists the user's second factors and the owner may remove any of
//!   them in the same step (an attacker's authenticator app or passkey), atomically
//!   with the new password.
//! - The token is looked up (its SHA-256, one indexed read) before the new password is
//!   hashed: a made-up token costs no Argon2id.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, IntoActiveModel, TransactionSession,
    TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::{
    Error, Result,
    accounts::email_tokens::{self, LinkMail, Purpose},
    accounts::users,
    cache::Cache,
    core::TenantCtx,
    crypto::secrets,
    journal::audit::{self, Actor, Event},
    runtime::Workers,
};

/// Reset emails one account can be sent per hour; more requests are answered as
/// usual but send nothing, so nobody can flood a mailbox through the form.
pub const MAX_EMAILS_PER_HOUR: i64 = 3;

/// Starts a reset for the account `login` names. `None` when there is nothing to send
/// (unknown, disabled, no email address, or the hourly cap reached): the caller must
/// answer the same way in every case.
pub async fn request<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    cache: &dyn Cache,
    tenant: &TenantCtx,
    actor: &Actor,
    login: &str,
    now: DateTime<Utc>,
) -> Result<Option<LinkMail>> {
    if login.trim().is_empty() || login.len() > 320 {
        return Ok(None);
    }
    let Some(user) = users::find_by_login(db, tenant, login).await? else {
        return Ok(None);
    };
    let counter = cache.key(tenant.id, "reset_mail", &user.id.to_string());
    if cache
        .incr(&counter, std::time::Duration::from_secs(3600))
        .await?
        > MAX_EMAILS_PER_HOUR
    {
        return Ok(None);
    }
    start(db, tenant, actor, &user, now).await
}

/// Starts a reset for a known user (the management API's "send a reset email").
pub async fn start<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user: &entity::users::Model,
    now: DateTime<Utc>,
) -> Result<Option<LinkMail>> {
    let Some(email) = user.email.clone().filter(|_| user.enabled) else {
        return Ok(None);
    };
    let txn = db.begin().await?;
    let token =
        email_tokens::issue(&txn, tenant, user.id, Purpose::PasswordReset, &email, now).await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.password_reset_requested",
            format!("user:{}", user.id),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Some(LinkMail {
        to: email,
        username: user.username.clone(),
        token: token.into(),
    }))
}

/// What the reset page shows for a live link: whose account it is and the second
/// factors the owner may remove along with setting a new password.
#[derive(Debug)]
pub struct Reset {
    /// The account being reset.
    pub user: entity::users::Model,
    /// Its second factors (TOTP, passkeys by name, recovery codes left).
    pub factors: crate::accounts::mfa::Factors,
}

/// Second factors to remove when the reset completes (chosen on the reset page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removals {
    /// Remove the authenticator app (TOTP seed).
    pub totp: bool,
    /// Remove these passkeys (ids of the user's passkeys; others are ignored).
    pub passkeys: Vec<Uuid>,
    /// Remove the remaining recovery codes.
    pub recovery_codes: bool,
}

impl Removals {
    /// Whether anything is to be removed.
    pub fn any(&self) -> bool {
        self.totp || self.recovery_codes || !self.passkeys.is_empty()
    }
}

/// The token's row and user if the link is live: unused, unexpired, the account
/// enabled, and the address it was sent to still the user's.
async fn live(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(entity::email_tokens::Model, entity::users::Model)>> {
    let Some(row) = email_tokens::peek(db, tenant, token, Purpose::PasswordReset, now).await?
    else {
        return Ok(None);
    };
    let user = match users::get(db, tenant, row.user_id).await {
        Ok(user) => user,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(err) => return Err(err),
    };
    Ok(still_bound(&row, &user).then_some((row, user)))
}

/// A reset link works only while the address it was sent to is still the user's
/// (OWASP Forgot Password Cheat Sheet: the link proves control of *that* mailbox).
fn still_bound(row: &entity::email_tokens::Model, user: &entity::users::Model) -> bool {
    user.enabled && user.email.as_deref() == Some(row.email.as_str())
}

/// The account and factors behind a live reset link (for the reset form); `None` for
/// an unknown, used, expired or voided link.
pub async fn inspect(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Reset>> {
    let Some((_, user)) = live(db, tenant, token, now).await? else {
        return Ok(None);
    };
    let factors = crate::accounts::mfa::factors(db, tenant, user.id).await?;
    Ok(Some(Reset { user, factors }))
}

/// Whether `token` is a usable reset token (to decide between the form and an error).
pub async fn is_valid(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(live(db, tenant, token, now).await?.is_some())
}

fn invalid_link() -> Error {
    Error::invalid(
        "token",
        "this reset link is invalid, expired or already used",
    )
}

/// Completes a reset: uses the token, sets `password`, removes the second factors in
/// `removals`, revokes the user's refresh tokens. Returns the user, whose sessions the
/// caller then ends.
#[expect(clippy::too_many_arguments, reason = "a reset's whole context")]
pub async fn complete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    tenant: &TenantCtx,
    actor: &Actor,
    token: &str,
    password: SecretString,
    removals: &Removals,
    now: DateTime<Utc>,
) -> Result<entity::users::Model> {
    users::validate_password(password.expose_secret())
        .map_err(|m| Error::invalid("password", m))?;
    // The cheap check that can fail comes first: only a live link earns an Argon2id
    // hash (an anonymous flood of made-up tokens must not take the hashing capacity).
    if live(db, tenant, token, now).await?.is_none() {
        return Err(invalid_link());
    }
    let hash = secrets::hash_password(workers, password.expose_secret().to_owned()).await?;
    let txn = db.begin().await?;
    let used = email_tokens::redeem(&txn, tenant, token, Purpose::PasswordReset, now).await?;
    let Some(used) = used else {
        return Err(invalid_link());
    };
    let user = users::get(&txn, tenant, used.user_id).await?;
    if !user.enabled {
        return Err(Error::Forbidden("this account is disabled"));
    }
    if !still_bound(&used, &user) {
        return Err(invalid_link());
    }
    let mut model = user.into_active_model();
    model.password_hash = Set(Some(hash));
    model.updated_at = Set(now);
    let user = model.update(&txn).await?;
    let revoked = crate::accounts::users::revoke_for_user(&txn, tenant, user.id, None, now).await?;
    let user_actor = Actor {
        id: format!("user:{}", user.id),
        ..actor.clone()
    };
    let removed = crate::accounts::mfa::remove_for_recovery(
        &txn,
        tenant,
        &user_actor,
        user.id,
        removals,
        now,
    )
    .await?;
    crate::journal::alerts::record_alerted(
        &txn,
        &user_actor,
        Event::success(
            Some(tenant.id),
            "user.password_reset",
            format!("user:{}", user.id),
        )
        .with_details(serde_json::json!({
            "refresh_tokens_revoked": revoked,
            "factors_removed": removed,
        })),
        crate::journal::alerts::kinds::PASSWORD_RESET,
        serde_json::json!({ "user_id": user.id, "ip": actor.ip, "via": "email link" }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{accounts::users::NewUser, test_support};

    async fn tenant_with_ann(
        db: &sea_orm::DatabaseConnection,
    ) -> (TenantCtx, entity::users::Model) {
        let keyring =
            crate::crypto::Keyring::new(crate::crypto::MasterKey::from_bytes(&[7; 32]), []);
        let tenant = crate::tenants::create(
            db,
            &keyring,
            &Actor::system(),
            crate::tenants::NewTenant {
                slug: "acme".into(),
                display_name: "Acme".into(),
                settings: crate::core::SettingsPatch::default(),
            },
            test_support::now(),
        )
        .await
        .unwrap();
        let tenant = TenantCtx::from(&tenant);
        let user = users::create(
            db,
            &test_support::workers(),
            &tenant,
            &Actor::system(),
            NewUser {
                username: "ann".into(),
                email: Some("ann@example.com".into()),
                password: None,
                email_verified: true,
            },
            test_support::now(),
        )
        .await
        .unwrap();
        (tenant, user)
    }

    #[tokio::test]
    async fn a_made_up_reset_token_is_refused_without_any_argon2id_work() {
        // Arrange
        let db = test_support::db().await;
        let (tenant, _) = tenant_with_ann(&db).await;
        let now = test_support::now();

        // Act
        let (result, jobs) = secrets::count_argon2_jobs(complete(
            &db,
            &test_support::workers(),
            &tenant,
            &Actor::system(),
            "made-up-token-0123456789abcdefghijklmnopqrstuvw",
            SecretString::from("a brand new passphrase"),
            &Removals::default(),
            now,
        ))
        .await;

        // Assert
        assert!(matches!(result, Err(Error::Invalid(_))), "{result:?}");
        assert_eq!(jobs, 0, "no Argon2id before the token is found");
    }

    #[tokio::test]
    async fn a_live_reset_token_hashes_the_new_password_once() {
        // Arrange
        let db = test_support::db().await;
        let (tenant, ann) = tenant_with_ann(&db).await;
        let now = test_support::now();
        let mail = start(&db, &tenant, &Actor::system(), &ann, now)
            .await
            .unwrap()
            .unwrap();

        // Act
        let (result, jobs) = secrets::count_argon2_jobs(complete(
            &db,
            &test_support::workers(),
            &tenant,
            &Actor::system(),
            mail.token.expose_secret(),
            SecretString::from("a brand new passphrase"),
            &Removals::default(),
            now,
        ))
        .await;

        // Assert
        assert_eq!(result.unwrap().id, ann.id);
        assert_eq!(jobs, 1);
    }
}

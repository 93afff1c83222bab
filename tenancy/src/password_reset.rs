//! Password reset by email (OWASP Forgot Password Cheat Sheet): a request names an
//! account by username or email and, if it exists, is enabled and has an address, a
//! 30-minute single-use link is emailed. The answer to the requester is the same
//! whether or not anything was sent. Completing the reset sets the new password and
//! revokes every refresh token of the user; the caller also ends the user's sessions
//! and lifts a login lockout, since the owner has just proved control of the mailbox.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, IntoActiveModel, TransactionSession,
    TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    Error, Result,
    audit::{self, Actor, Event},
    cache::Cache,
    email_tokens::{self, LinkMail, Purpose},
    refresh, secrets,
    tenants::TenantCtx,
    users,
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

/// Whether `token` is a usable reset token (to decide between the form and an error).
pub async fn is_valid(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(
        email_tokens::peek(db, tenant, token, Purpose::PasswordReset, now)
            .await?
            .is_some(),
    )
}

/// Completes a reset: uses the token, sets `password`, revokes the user's refresh
/// tokens. Returns the user, whose sessions the caller then ends.
pub async fn complete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    token: &str,
    password: SecretString,
    now: DateTime<Utc>,
) -> Result<entity::users::Model> {
    users::validate_password(password.expose_secret())
        .map_err(|m| Error::invalid("password", m))?;
    let hash = secrets::hash_password(password.expose_secret().to_owned()).await?;
    let txn = db.begin().await?;
    let used = email_tokens::redeem(&txn, tenant, token, Purpose::PasswordReset, now).await?;
    let Some(used) = used else {
        return Err(Error::invalid(
            "token",
            "this reset link is invalid, expired or already used",
        ));
    };
    let user = users::get(&txn, tenant, used.user_id).await?;
    if !user.enabled {
        return Err(Error::Forbidden("this account is disabled"));
    }
    let mut model = user.into_active_model();
    model.password_hash = Set(Some(hash));
    model.updated_at = Set(now);
    let user = model.update(&txn).await?;
    let revoked = refresh::revoke_for_user(&txn, tenant, user.id, None, now).await?;
    audit::record(
        &txn,
        &Actor {
            id: format!("user:{}", user.id),
            ..actor.clone()
        },
        Event::success(
            Some(tenant.id),
            "user.password_reset",
            format!("user:{}", user.id),
        )
        .with_details(serde_json::json!({ "refresh_tokens_revoked": revoked })),
        now,
    )
    .await?;
    crate::alerts::raise(
        &txn,
        crate::alerts::SecurityEvent::new(
            Some(tenant.id),
            crate::alerts::kinds::PASSWORD_RESET,
            serde_json::json!({ "user_id": user.id, "ip": actor.ip, "via": "email link" }),
            now,
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

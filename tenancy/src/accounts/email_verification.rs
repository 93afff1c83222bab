//! Email verification: a 24-hour single-use link proves the user controls the
//! address on their account; `email_verified` (OIDC Core §5.1) becomes true only if
//! the account still has that address when the link is opened.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, IntoActiveModel, TransactionSession,
    TransactionTrait,
};

use crate::{
    Error, Result,
    accounts::email_tokens::{self, LinkMail, Purpose},
    core::TenantCtx,
    journal::audit::{self, Actor, Event},
};

/// Issues a verification link for the user's address. Refused when the user has no
/// address, or it is already verified.
pub async fn start<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    user: &entity::users::Model,
    now: DateTime<Utc>,
) -> Result<LinkMail> {
    let Some(email) = user.email.clone() else {
        return Err(Error::invalid("email", "the user has no email address"));
    };
    if user.email_verified {
        return Err(Error::Conflict(
            "the email address is already verified".into(),
        ));
    }
    let txn = db.begin().await?;
    let token = email_tokens::issue(
        &txn,
        tenant,
        user.id,
        Purpose::EmailVerification,
        &email,
        now,
    )
    .await?;
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "user.email_verification_sent",
            format!("user:{}", user.id),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(LinkMail {
        to: email,
        username: user.username.clone(),
        token: token.into(),
    })
}

/// Uses a verification token; returns the user with `email_verified` set.
pub async fn confirm<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    token: &str,
    now: DateTime<Utc>,
) -> Result<entity::users::Model> {
    let txn = db.begin().await?;
    let used = email_tokens::redeem(&txn, tenant, token, Purpose::EmailVerification, now).await?;
    let invalid = || {
        Error::invalid(
            "token",
            "this verification link is invalid, expired or already used",
        )
    };
    let used = used.ok_or_else(invalid)?;
    let user = crate::accounts::users::get(&txn, tenant, used.user_id).await?;
    // The address changed since the link was sent: it proves nothing about the new one.
    if user.email.as_deref() != Some(used.email.as_str()) {
        return Err(invalid());
    }
    let mut model = user.into_active_model();
    model.email_verified = Set(true);
    model.updated_at = Set(now);
    let user = model.update(&txn).await?;
    audit::record(
        &txn,
        &Actor {
            id: format!("user:{}", user.id),
            ..actor.clone()
        },
        Event::success(
            Some(tenant.id),
            "user.email_verified",
            format!("user:{}", user.id),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

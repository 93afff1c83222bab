//! Single-use, short-lived tokens sent by email (password reset, email verification).
//!
//! The token is 256 bits from the OS RNG and exists only in the email; the database
//! keeps its SHA-256, so a leaked table cannot be used to take over accounts. Issuing
//! a new token of a purpose supersedes the user's earlier unused ones, and redeeming is
//! one conditional `UPDATE … WHERE used_at IS NULL AND expires_at > now`, so of two
//! concurrent redemptions exactly one wins.

use chrono::{DateTime, Duration, Utc};
use entity::email_tokens;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{Result, core::TenantCtx, core::ids, crypto::secrets};

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Set a new password without knowing the old one.
    PasswordReset,
    /// Prove ownership of an email address.
    EmailVerification,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }

    /// How long a token stays usable: short for resets (OWASP Forgot Password Cheat
    /// Sheet), a day for verification links that may be opened later.
    pub fn lifetime(self) -> Duration {
        match self {
            Self::PasswordReset => Duration::minutes(30),
            Self::EmailVerification => Duration::hours(24),
        }
    }
}

/// An email carrying a single-use link, ready to be sent: who gets it and the token
/// for the link (which is never logged; `Debug` shows only the recipient).
pub struct LinkMail {
    /// Recipient address.
    pub to: String,
    /// The account's username (shown in the email).
    pub username: String,
    /// The single-use token for the link.
    pub token: secrecy::SecretString,
}

impl std::fmt::Debug for LinkMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkMail")
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// Longest token accepted on redemption (ours are 43 characters).
const MAX_TOKEN_CHARS: usize = 128;

/// Issues a token for `user_id` sent to `email`; returns the token for the link.
/// Earlier unused tokens of the same purpose stop working.
pub async fn issue(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    purpose: Purpose,
    email: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    supersede(db, tenant, user_id, purpose, now).await?;
    let token = secrets::random_token("")?;
    email_tokens::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        user_id: Set(user_id),
        purpose: Set(purpose.as_str().to_owned()),
        token_hash: Set(secrets::sha256_hex(&token)),
        email: Set(email.to_owned()),
        created_at: Set(now),
        expires_at: Set(now + purpose.lifetime()),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Marks every unused token of `purpose` for `user_id` as used.
pub async fn supersede(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    user_id: Uuid,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<()> {
    email_tokens::Entity::update_many()
        .col_expr(email_tokens::Column::UsedAt, Expr::value(now))
        .filter(email_tokens::Column::TenantId.eq(tenant.id))
        .filter(email_tokens::Column::UserId.eq(user_id))
        .filter(email_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(email_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The token's row if it is of `purpose`, unused and unexpired (does not use it).
pub async fn peek(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<email_tokens::Model>> {
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Ok(None);
    }
    Ok(email_tokens::Entity::find()
        .filter(email_tokens::Column::TenantId.eq(tenant.id))
        .filter(email_tokens::Column::TokenHash.eq(secrets::sha256_hex(token)))
        .filter(email_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(email_tokens::Column::UsedAt.is_null())
        .filter(email_tokens::Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// Uses the token: returns its row if this call was the one that used it.
pub async fn redeem(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<email_tokens::Model>> {
    let Some(row) = peek(db, tenant, token, purpose, now).await? else {
        return Ok(None);
    };
    let claimed = email_tokens::Entity::update_many()
        .col_expr(email_tokens::Column::UsedAt, Expr::value(now))
        .filter(email_tokens::Column::Id.eq(row.id))
        .filter(email_tokens::Column::TenantId.eq(tenant.id))
        .filter(email_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok((claimed.rows_affected == 1).then_some(row))
}

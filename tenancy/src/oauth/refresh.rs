//! Refresh-token storage: single use, rotated on every use, grouped in families.
//!
//! Only the SHA-256 of a token is stored. Redeeming marks the row used with a
//! conditional `UPDATE ... WHERE used_at IS NULL`, so of two concurrent redemptions
//! the database lets exactly one win. A token presented again after use is a replay
//! (RFC 9700 §4.14.2): the whole family is revoked — unless it comes within the
//! tenant's reuse grace window (`refresh_token_reuse_grace_secs`), which lets a client
//! that lost a response, or two of its threads refreshing at once, retry.
//!
//! **A retry never forks the family.** A successor is not random: it is an HMAC of the
//! token it replaces under the master key ([`successor_of`]), so the server can
//! recompute it and nobody else can predict it, and nothing but its SHA-256 is stored.
//! A retry inside the grace window is answered with *the same successor* the first
//! redemption minted (and a fresh access token), never a second one, as Okta's
//! rotation grace period does — so however often a token is retried there is one
//! live chain. If that successor has already been used or revoked, the chain has moved
//! on and the retry is a replay: the family is revoked. A retry whose first
//! redemption minted no successor (it narrowed the scope below `offline_access`) is
//! refused without revoking anything.

use chrono::{DateTime, Duration, Utc};
use entity::refresh_tokens;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::{
    Result, core::TenantCtx, core::ids, crypto::Keyring, crypto::secrets,
    runtime::deferred::DeferredRows,
};

/// What a new refresh token carries.
#[derive(Clone, Debug)]
pub struct NewRefresh {
    /// Family to join (a new one for a code redemption).
    pub family_id: Uuid,
    /// Client.
    pub client_id: String,
    /// User.
    pub user_id: Uuid,
    /// Scope.
    pub scope: String,
    /// The grant's APIs (identifiers).
    pub resources: Vec<String>,
    /// Session id.
    pub sid: Option<String>,
    /// Authentication time.
    pub auth_time: DateTime<Utc>,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Absolute end of the family.
    pub family_expires_at: DateTime<Utc>,
}

/// Stores a new random refresh token (the first of a family); returns its plaintext
/// (shown once, to the client).
pub async fn issue(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    new: NewRefresh,
    idle_ttl_secs: u32,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = secrets::random_token("")?;
    let rows = DeferredRows::immediate();
    store(db, &rows, tenant, &token, new, idle_ttl_secs, now).await?;
    Ok(token)
}

/// The successor of refresh token `parent` of `tenant_id`: HMAC-SHA256 under the
/// master key, in the format of a random token (256 bits, base64url). Only the server
/// can compute it, and it is the same every time, so a retry gets what the first
/// redemption minted.
pub fn successor_of(keyring: &Keyring, tenant_id: Uuid, parent: &str) -> String {
    let mac = keyring.mac(
        &format!("refresh_token_successor:{tenant_id}"),
        parent.as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(mac)
}

/// Stores refresh token `token` (its SHA-256 only) through `rows` (a grant batch
/// holds it for the end of the batch: `runtime::deferred`).
pub async fn store(
    db: &impl ConnectionTrait,
    rows: &DeferredRows,
    tenant: &TenantCtx,
    token: &str,
    new: NewRefresh,
    idle_ttl_secs: u32,
    now: DateTime<Utc>,
) -> Result<()> {
    rows.insert_refresh_token(db, row(tenant, token, new, idle_ttl_secs, now))
        .await
}

fn row(
    tenant: &TenantCtx,
    token: &str,
    new: NewRefresh,
    idle_ttl_secs: u32,
    now: DateTime<Utc>,
) -> refresh_tokens::ActiveModel {
    let idle_end = now + Duration::seconds(i64::from(idle_ttl_secs));
    refresh_tokens::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        family_id: Set(new.family_id),
        token_hash: Set(secrets::sha256_hex(token)),
        client_id: Set(new.client_id),
        user_id: Set(new.user_id),
        scope: Set(new.scope),
        resources: Set(new.resources.join(" ")),
        sid: Set(new.sid),
        auth_time: Set(new.auth_time),
        amr: Set(serde_json::json!(new.amr)),
        acr: Set(Some(crate::core::amr::acr_for(&new.amr).to_owned())),
        issued_at: Set(now),
        expires_at: Set(idle_end.min(new.family_expires_at)),
        family_expires_at: Set(new.family_expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    }
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum Redemption {
    /// First use: the row is now used; issue a successor in its family.
    Rotated(refresh_tokens::Model),
    /// A retry inside the grace window: answer with the successor the first redemption
    /// minted (see [`retry`]); nothing is revoked yet.
    GraceRetry(refresh_tokens::Model),
    /// A replay: the family has been revoked.
    Reused(refresh_tokens::Model),
    /// Unknown, expired, revoked, or another client's token.
    Invalid,
}

/// Redeems `token` for `client_id`. Refresh tokens `rows` still holds are written
/// before anything reads the token's family (a retry's successor, a replay's
/// revocation), so a grant sees the grants before it in its batch.
pub async fn redeem(
    db: &impl ConnectionTrait,
    rows: &DeferredRows,
    tenant: &TenantCtx,
    token: &str,
    client_id: &str,
    grace_secs: u32,
    now: DateTime<Utc>,
) -> Result<Redemption> {
    if let Some(row) = claim(db, tenant, token, client_id, now).await? {
        return Ok(Redemption::Rotated(row));
    }
    rows.flush(db).await?;
    settle_unclaimed(db, tenant, token, client_id, grace_secs, now).await
}

/// The common case in one statement: claims `token` (marks it used) if it is live
/// and `client_id`'s. Of concurrent claims the database lets exactly one match.
async fn claim(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<refresh_tokens::Model>> {
    let claimed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now))
        .filter(refresh_tokens::Column::TenantId.eq(tenant.id))
        .filter(refresh_tokens::Column::TokenHash.eq(secrets::sha256_hex(token)))
        .filter(refresh_tokens::Column::ClientId.eq(client_id))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .filter(refresh_tokens::Column::ExpiresAt.gt(now))
        .filter(refresh_tokens::Column::FamilyExpiresAt.gt(now))
        .exec_with_returning(db)
        .await?;
    Ok(claimed.into_iter().next())
}

/// What a token that [`claim`] could not claim is: unknown or not this client's,
/// expired, revoked, a retry inside the grace window, or a replay (then its family is
/// revoked here). Held rows are written by now, so the family seen here is complete.
async fn settle_unclaimed(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    client_id: &str,
    grace_secs: u32,
    now: DateTime<Utc>,
) -> Result<Redemption> {
    let token_hash = secrets::sha256_hex(token);
    // Not claimable: unknown, another client's, expired, revoked, or already used.
    let Some(row) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TenantId.eq(tenant.id))
        .filter(refresh_tokens::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
    else {
        return Ok(Redemption::Invalid);
    };
    if row.client_id != client_id || row.revoked_at.is_some() || row.family_expires_at <= now {
        return Ok(Redemption::Invalid);
    }
    match row.used_at {
        Some(used_at)
            if grace_secs > 0 && now - used_at <= Duration::seconds(i64::from(grace_secs)) =>
        {
            Ok(Redemption::GraceRetry(row))
        }
        Some(_) => {
            // RFC 9700 §4.14.2: a used token presented again means it leaked.
            revoke_family(db, &DeferredRows::immediate(), tenant, row.family_id, now).await?;
            Ok(Redemption::Reused(row))
        }
        // Unused but not claimable: expired by idle time.
        None => Ok(Redemption::Invalid),
    }
}

/// What a retry inside the grace window gets.
#[derive(Debug)]
pub enum Retry {
    /// The successor the first redemption minted is still live: return it again.
    Successor(Box<refresh_tokens::Model>),
    /// The successor was used or revoked since: a replay; the family is now revoked.
    Replayed,
    /// The first redemption minted no successor (a scope without `offline_access`).
    NoSuccessor,
}

/// Settles a retry of the used token `parent` inside the grace window: `successor` is
/// [`successor_of`] the presented token. Never stores a second successor.
pub async fn retry(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    parent: &refresh_tokens::Model,
    successor: &str,
    now: DateTime<Utc>,
) -> Result<Retry> {
    let found = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TenantId.eq(tenant.id))
        .filter(refresh_tokens::Column::TokenHash.eq(secrets::sha256_hex(successor)))
        .one(db)
        .await?
        .filter(|row| row.family_id == parent.family_id && row.client_id == parent.client_id);
    let Some(row) = found else {
        return Ok(Retry::NoSuccessor);
    };
    let live = row.used_at.is_none()
        && row.revoked_at.is_none()
        && row.expires_at > now
        && row.family_expires_at > now;
    if live {
        return Ok(Retry::Successor(Box::new(row)));
    }
    // RFC 9700 §4.14.2: the chain moved on past this token, so whoever presents it
    // again is not the client that holds the chain's tip.
    revoke_family(
        db,
        &DeferredRows::immediate(),
        tenant,
        parent.family_id,
        now,
    )
    .await?;
    Ok(Retry::Replayed)
}

/// Revokes every token of a family, with any of its tokens `rows` still holds.
pub async fn revoke_family(
    db: &impl ConnectionTrait,
    rows: &DeferredRows,
    tenant: &TenantCtx,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    rows.flush(db).await?;
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
        .filter(refresh_tokens::Column::TenantId.eq(tenant.id))
        .filter(refresh_tokens::Column::FamilyId.eq(family_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The live row of a refresh token (for introspection and revocation).
pub async fn find_live(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<refresh_tokens::Model>> {
    Ok(refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TenantId.eq(tenant.id))
        .filter(refresh_tokens::Column::TokenHash.eq(secrets::sha256_hex(token)))
        .one(db)
        .await?
        .filter(|r| {
            r.revoked_at.is_none()
                && r.used_at.is_none()
                && r.expires_at > now
                && r.family_expires_at > now
        }))
}

//! Token revocation (RFC 7009).
//!
//! Reference access tokens are deleted, so they stop working at once. JWT access
//! tokens are revoked by `jti` until they expire; introspection and userinfo
//! honour it. A refresh token is revoked with its whole family and, as RFC 7009 §2.1
//! asks, with every access token issued under that grant (`access::revoke_grant`).
//! Unknown, malformed or foreign tokens, and tokens of another client, get the same 200
//! with nothing changed (RFC 7009 §2.2: an invalid token is not an error), so
//! revocation reveals nothing about a token.

use chrono::{DateTime, Utc};
use entity::clients;
use sea_orm::ConnectionTrait;

use crate::{
    Result, cache::Cache, core::TenantCtx, keys::signing::TenantKeys, oauth::refresh,
    oauth::tokens::access,
};

/// Revokes `token` if it is a live access or refresh token issued to `client`.
#[expect(
    clippy::too_many_arguments,
    reason = "the request plus the tenant's storage and keys"
)]
pub async fn revoke(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    keys: &TenantKeys,
    cache: &dyn Cache,
    issuer: &str,
    client: &clients::Model,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    if access::is_reference(token) {
        // Only the client it was issued to may revoke it; then it is gone at once.
        return match access::verify(keys, cache, tenant.id, issuer, token, now).await? {
            Ok(claims) if claims.client_id == client.client_id => {
                access::revoke_reference(cache, tenant.id, token).await?;
                Ok(true)
            }
            _ => Ok(false),
        };
    }
    if !token.contains('.') {
        return match refresh::find_live(db, tenant, token, now).await? {
            Some(row) if row.client_id == client.client_id => {
                let nothing_held = crate::runtime::deferred::DeferredRows::immediate();
                refresh::revoke_family(db, &nothing_held, tenant, row.family_id, now).await?;
                access::revoke_grant(cache, tenant.id, row.family_id).await?;
                Ok(true)
            }
            _ => Ok(false),
        };
    }
    match access::verify(keys, cache, tenant.id, issuer, token, now).await? {
        Ok(claims) if claims.client_id == client.client_id => {
            access::revoke(cache, tenant.id, &claims.jti, claims.exp, now).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

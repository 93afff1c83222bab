//! Token revocation (RFC 7009).
//!
//! Access tokens are revoked by `jti` until they expire; introspection and userinfo
//! honour it. Unknown, malformed or foreign tokens, and tokens of another client, get
//! the same 200 with nothing changed (RFC 7009 §2.2: an invalid token is not an error),
//! so revocation reveals nothing about a token.

use chrono::{DateTime, Utc};
use entity::clients;
use uuid::Uuid;

use crate::{Result, cache::Cache, signing::TenantKeys, tokens};

/// Revokes `token` if it is a live access token issued to `client`.
pub async fn revoke(
    keys: &TenantKeys,
    cache: &dyn Cache,
    tenant_id: Uuid,
    issuer: &str,
    client: &clients::Model,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    match tokens::verify(keys, cache, tenant_id, issuer, token).await? {
        Ok(claims) if claims.client_id == client.client_id => {
            tokens::revoke(cache, tenant_id, &claims.jti, claims.exp, now).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

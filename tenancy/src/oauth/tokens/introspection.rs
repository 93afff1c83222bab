//! Token introspection (RFC 7662) for authenticated clients of the tenant.
//!
//! Access tokens are JWTs or reference tokens (`tra_...`, RFC 7662 is how an API learns
//! what one means); both answer with the same members, `aud` included.
//!
//! Anything that is not a live token of this tenant — expired, revoked, malformed,
//! signed by another tenant or another issuer — is `{"active": false}` and nothing
//! else (RFC 7662 §2.2), so the answer never explains why.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::{
    Result, cache::Cache, core::TenantCtx, keys::signing::TenantKeys, oauth::refresh,
    oauth::tokens::access,
};

/// The introspection response for `token` (an access or a refresh token).
pub async fn introspect(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    keys: &TenantKeys,
    cache: &dyn Cache,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Value> {
    if !token.contains('.') && !access::is_reference(token) {
        return Ok(match refresh::find_live(db, tenant, token, now).await? {
            Some(row) => json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": row.scope,
                "client_id": row.client_id,
                "sub": row.user_id.to_string(),
                "iss": issuer,
                "exp": row.expires_at.timestamp(),
                "iat": row.issued_at.timestamp(),
            }),
            None => json!({ "active": false }),
        });
    }
    match access::verify(keys, cache, tenant.id, issuer, token, now).await? {
        Ok(claims) => Ok(with_roles(
            json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.sub,
            "aud": claims.aud.to_json(),
            "iss": claims.iss,
            "exp": claims.exp,
            "iat": claims.iat,
            "jti": claims.jti,
            }),
            claims.roles,
        )),
        Err(_) => Ok(json!({ "active": false })),
    }
}

/// `response` with the token's `roles` (RFC 9068 §2.2.3.1), when it has them.
fn with_roles(mut response: Value, roles: Option<Vec<String>>) -> Value {
    if let (Some(roles), Some(object)) = (roles, response.as_object_mut()) {
        object.insert("roles".into(), json!(roles));
    }
    response
}

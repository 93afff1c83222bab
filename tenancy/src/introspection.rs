//! Token introspection (RFC 7662) for authenticated clients of the tenant.
//!
//! Anything that is not a live token of this tenant — expired, revoked, malformed,
//! signed by another tenant or another issuer — is `{"active": false}` and nothing
//! else (RFC 7662 §2.2), so the answer never explains why.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Result, cache::Cache, signing::TenantKeys, tokens};

/// The introspection response for `token`.
pub async fn introspect(
    keys: &TenantKeys,
    cache: &dyn Cache,
    tenant_id: Uuid,
    issuer: &str,
    token: &str,
) -> Result<Value> {
    match tokens::verify(keys, cache, tenant_id, issuer, token).await? {
        Ok(claims) => Ok(json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.sub,
            "aud": claims.aud,
            "iss": claims.iss,
            "exp": claims.exp,
            "iat": claims.iat,
            "jti": claims.jti,
        })),
        Err(_) => Ok(json!({ "active": false })),
    }
}

//! Authorization codes: 256-bit random values, kept in the cache under their SHA-256
//! for 60 seconds (OAuth 2.1 §4.1.2: short-lived, single use).
//!
//! Redemption takes the code atomically (`GETDEL`), so of any number of concurrent
//! redemptions exactly one gets it. The winner then leaves a "used" record naming what
//! it issued, so a later replay by the same client (proven by its credentials and PKCE
//! verifier) revokes those tokens (RFC 9700 §4.2.4).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result, cache::Cache, crypto::secrets};

/// Lifetime of a code.
pub const CODE_TTL: Duration = Duration::from_secs(60);
const KIND: &str = "code";
const USED_KIND: &str = "code_used";

/// What a code stands for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// The user.
    pub user_id: Uuid,
    /// Granted scope.
    pub scope: String,
    /// The APIs (identifiers) the grant is for (RFC 8707 §2), first the default one of
    /// a token request that names none; empty: no API.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The request's nonce.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Session id.
    pub sid: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// When the code stops being redeemable (seconds since the epoch), checked against
    /// the server clock in addition to the cache's own expiry.
    pub expires_at: i64,
}

/// Whom a redeemed code was issued to: what a replay must prove to revoke what the
/// code issued. Only this is kept of the grant, since the marker lives as long as the
/// access token (one per code flow of the last hour, in the cache). A marker written
/// with the whole grant reads as this too (serde ignores the extra fields).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeOwner {
    /// The client it was issued to.
    pub client_id: String,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// The user.
    pub user_id: Uuid,
}

/// A redeemed code and what its redemption issued.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UsedCode {
    /// Whom the code was issued to (for proving a replay comes from the same client).
    pub grant: CodeOwner,
    /// The refresh-token family issued, if any.
    pub family_id: Option<Uuid>,
    /// The access token issued, and its expiry.
    pub access_jti: String,
    /// Expiry of that access token.
    pub access_exp: i64,
}

/// Issues a code for `grant`.
pub async fn issue(cache: &dyn Cache, tenant_id: Uuid, grant: &CodeGrant) -> Result<String> {
    let code = secrets::random_token("")?;
    let bytes = serde_json::to_vec(grant).map_err(|e| Error::Internal(e.to_string()))?;
    cache
        .set(
            &cache.key(tenant_id, KIND, &secrets::sha256_hex(&code)),
            &bytes,
            CODE_TTL,
        )
        .await?;
    Ok(code)
}

/// Takes a code: returns its grant once, and never again.
pub async fn take(cache: &dyn Cache, tenant_id: Uuid, code: &str) -> Result<Option<CodeGrant>> {
    Ok(cache
        .take(&cache.key(tenant_id, KIND, &secrets::sha256_hex(code)))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Puts back a code taken by a grant whose transaction rolled back, for what is left
/// of its lifetime (nothing, once it has expired).
pub async fn restore(
    cache: &dyn Cache,
    tenant_id: Uuid,
    code: &str,
    grant: &CodeGrant,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let left = grant.expires_at.saturating_sub(now.timestamp());
    let Ok(left @ 1..) = u64::try_from(left) else {
        return Ok(());
    };
    let bytes = serde_json::to_vec(grant).map_err(|e| Error::Internal(e.to_string()))?;
    cache
        .set(
            &cache.key(tenant_id, KIND, &secrets::sha256_hex(code)),
            &bytes,
            Duration::from_secs(left).min(CODE_TTL),
        )
        .await
}

/// Records what a code's redemption issued, for as long as those tokens live.
pub async fn mark_used(
    cache: &dyn Cache,
    tenant_id: Uuid,
    code: &str,
    used: &UsedCode,
    ttl: Duration,
) -> Result<()> {
    let bytes = serde_json::to_vec(used).map_err(|e| Error::Internal(e.to_string()))?;
    cache
        .set(&used_key(cache, tenant_id, code), &bytes, ttl)
        .await
}

/// What an already redeemed code issued, if it was redeemed recently.
pub async fn used(cache: &dyn Cache, tenant_id: Uuid, code: &str) -> Result<Option<UsedCode>> {
    Ok(cache
        .get(&used_key(cache, tenant_id, code))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Where a redeemed code's marker is kept (under the code's SHA-256, like the code).
fn used_key(cache: &dyn Cache, tenant_id: Uuid, code: &str) -> String {
    cache.key(tenant_id, USED_KIND, &secrets::sha256_hex(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::memory::MemoryCache;

    fn used_code(grant: CodeOwner) -> UsedCode {
        UsedCode {
            grant,
            family_id: Some(Uuid::nil()),
            access_jti: "jti".into(),
            access_exp: 1,
        }
    }

    #[tokio::test]
    async fn a_used_code_marker_keeps_only_what_a_replay_must_prove() {
        let cache = MemoryCache::new("test");
        let tenant = Uuid::nil();
        let owner = CodeOwner {
            client_id: "client".into(),
            code_challenge: Some("challenge".into()),
            user_id: Uuid::nil(),
        };
        mark_used(&cache, tenant, "code", &used_code(owner), CODE_TTL)
            .await
            .unwrap();
        let stored = cache
            .get(&used_key(&cache, tenant, "code"))
            .await
            .unwrap()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(
            json["grant"],
            serde_json::json!({"client_id": "client", "code_challenge": "challenge", "user_id": Uuid::nil()})
        );
        let read = used(&cache, tenant, "code").await.unwrap().unwrap();
        assert_eq!(read.grant.client_id, "client");
        assert_eq!(read.access_jti, "jti");
    }

    #[tokio::test]
    async fn a_marker_written_with_the_whole_grant_still_reads() {
        let cache = MemoryCache::new("test");
        let tenant = Uuid::nil();
        let old = serde_json::json!({
            "grant": {
                "client_id": "client", "redirect_uri": "https://rp.example/cb",
                "code_challenge": "challenge", "user_id": Uuid::nil(), "scope": "openid",
                "nonce": null, "auth_time": 1, "sid": "sid", "amr": ["pwd"], "expires_at": 2
            },
            "family_id": null, "access_jti": "jti", "access_exp": 3
        });
        cache
            .set(
                &used_key(&cache, tenant, "code"),
                old.to_string().as_bytes(),
                CODE_TTL,
            )
            .await
            .unwrap();
        let read = used(&cache, tenant, "code").await.unwrap().unwrap();
        assert_eq!(read.grant.client_id, "client");
        assert_eq!(read.grant.code_challenge.as_deref(), Some("challenge"));
        assert_eq!(read.access_exp, 3);
    }
}

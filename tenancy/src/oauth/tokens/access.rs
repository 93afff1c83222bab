//! Access tokens: RFC 9068 JWTs (`typ: at+jwt`) signed with the tenant's current key,
//! verified against its published keys, revocable by `jti` until they expire; or, for
//! an API that asks for them, reference tokens: 256 random bits (`tra_...`) whose
//! claims are kept in the cache (in the compact form of `reference_claims`) under the
//! token's SHA-256 for the token's lifetime, so they carry nothing readable and
//! revoking one deletes it at once.
//!
//! An access token issued with a refresh token carries the refresh-token family it
//! belongs to (`gid`, the grant id). Revoking that grant (RFC 7009 §2.1: revoking a
//! refresh token also invalidates the access tokens of the same authorization grant;
//! RFC 9700 §4.14.2 on a replayed refresh token) marks the grant revoked for as long
//! as its access tokens can live, and [`verify`] refuses every token of it, so no
//! per-token list of a grant is kept.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::core::AccessClaims;
use crate::{
    Result,
    cache::Cache,
    core::claims::Audience,
    core::scopes::ScopeSet,
    crypto::secrets,
    keys::signing::{TenantKeys, VerifyError},
    keys::verified::VerifiedTokens,
};

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Cache kind under which revoked access-token ids are kept until they expire.
const REVOKED_JTI: &str = "revoked_jti";
/// Cache kind under which revoked grants (refresh-token families) are kept while
/// their access tokens may still be live.
const REVOKED_GRANT: &str = "revoked_grant";
/// Cache kind under which reference tokens' claims are kept, by the token's SHA-256
/// (evictable in the in-process cache: an evicted token is merely inactive).
const REFERENCE: &str = crate::cache::memory::REFERENCE_ACCESS_TOKEN;
/// How every reference access token begins (and no JWT or refresh token does).
pub const REFERENCE_PREFIX: &str = "tra_";
/// The longest any access token lives (an API's `access_token_ttl_secs` at most).
pub const MAX_ACCESS_TOKEN_TTL_SECS: u32 = 86_400;

/// Whether `token` is a reference access token (by its form; not whether it is live).
pub fn is_reference(token: &str) -> bool {
    token.starts_with(REFERENCE_PREFIX)
}

/// Makes a reference token for `claims` and keeps the claims until they expire.
pub async fn store_reference(
    cache: &dyn Cache,
    tenant_id: Uuid,
    claims: &AccessClaims,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = secrets::random_token(REFERENCE_PREFIX)?;
    let ttl = u64::try_from(claims.exp - now.timestamp())
        .unwrap_or(0)
        .max(1);
    let value = super::reference_claims::encode(claims)?;
    cache
        .set(
            &cache.key(tenant_id, REFERENCE, &secrets::sha256_hex(&token)),
            &value,
            Duration::from_secs(ttl),
        )
        .await?;
    Ok(token)
}

/// Revokes a reference token at once: its claims are deleted.
pub async fn revoke_reference(cache: &dyn Cache, tenant_id: Uuid, token: &str) -> Result<()> {
    cache
        .delete(&cache.key(tenant_id, REFERENCE, &secrets::sha256_hex(token)))
        .await
        .map(|_| ())
}

/// Who the token is for, beyond the client.
#[derive(Clone, Debug)]
pub struct Subject {
    /// `sub`.
    pub id: String,
    /// When the user authenticated.
    pub auth_time: Option<DateTime<Utc>>,
    /// The session id.
    pub sid: Option<String>,
    /// The refresh-token family issued with the token, if any.
    pub grant_id: Option<Uuid>,
}

/// The claims of a new access token (RFC 9068 §2.2) for `audience`, with a random
/// `jti`.
pub fn claims(
    issuer: &str,
    client_id: &str,
    subject: &Subject,
    audience: Audience,
    scope: &ScopeSet,
    ttl_secs: u32,
    now: DateTime<Utc>,
) -> Result<AccessClaims> {
    Ok(AccessClaims {
        iss: issuer.to_owned(),
        sub: subject.id.clone(),
        aud: audience,
        client_id: client_id.to_owned(),
        scope: scope.to_string(),
        exp: now.timestamp() + i64::from(ttl_secs),
        iat: now.timestamp(),
        jti: URL_SAFE_NO_PAD.encode(secrets::random_bytes::<16>()?),
        auth_time: subject.auth_time.map(|t| t.timestamp()),
        sid: subject.sid.clone(),
        gid: subject.grant_id.map(|g| g.simple().to_string()),
        roles: None,
    })
}

/// Signs an access token with the tenant's current key.
pub fn sign(keys: &TenantKeys, claims: &AccessClaims) -> Result<String> {
    keys.sign(ACCESS_TOKEN_TYP, claims)
}

/// Signs an access token with the tenant's current key of `alg` (an API's choice),
/// else its preferred one.
pub fn sign_with(
    keys: &TenantKeys,
    alg: Option<crate::core::Algorithm>,
    claims: &AccessClaims,
) -> Result<String> {
    keys.sign_with(alg, ACCESS_TOKEN_TYP, claims)
}

/// Why an access token is not usable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Signature, type, issuer or expiry check failed.
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// The token was revoked.
    #[error("token revoked")]
    Revoked,
}

/// Verifies an access token of this tenant and checks it was not revoked. Storage
/// failures are errors (fail closed), not "inactive". A token these same keys verified
/// before skips the signature check (`verified_tokens`).
pub async fn verify(
    keys: &TenantKeys,
    cache: &dyn Cache,
    tenant_id: Uuid,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<std::result::Result<AccessClaims, Rejection>> {
    if is_reference(token) {
        let key = cache.key(tenant_id, REFERENCE, &secrets::sha256_hex(token));
        let claims = match cache.get(&key).await? {
            Some(bytes) => match super::reference_claims::decode(&bytes, issuer) {
                Some(claims) => claims,
                None => return Ok(Err(VerifyError::Malformed.into())),
            },
            // Unknown, expired or revoked: all look the same.
            None => return Ok(Err(Rejection::Revoked)),
        };
        return still_live(cache, tenant_id, claims, now).await;
    }
    let digest = VerifiedTokens::digest(token);
    let memo = keys.verified_tokens();
    let claims = match memo.get(&digest, keys.generation()).await {
        // These same keys checked the signature, type and issuer before.
        Some(claims) if claims.iss == issuer => claims,
        _ => match keys.verify_ignoring_expiry::<AccessClaims>(token, ACCESS_TOKEN_TYP, issuer) {
            Ok(claims) => {
                memo.remember(digest, keys.generation(), claims.clone())
                    .await;
                claims
            }
            Err(e) => return Ok(Err(e.into())),
        },
    };
    still_live(cache, tenant_id, claims, now).await
}

/// `claims` unless they expired or were revoked (by `jti` or with their grant).
async fn still_live(
    cache: &dyn Cache,
    tenant_id: Uuid,
    claims: AccessClaims,
    now: DateTime<Utc>,
) -> Result<std::result::Result<AccessClaims, Rejection>> {
    // Expiry on every presentation, remembered or not (RFC 9068 §4).
    if claims.exp <= now.timestamp() {
        return Ok(Err(VerifyError::Invalid("expired".into()).into()));
    }
    // The token's own id and its grant, looked up together (one round trip).
    let jti_key = cache.key(tenant_id, REVOKED_JTI, &claims.jti);
    let grant_key = claims
        .gid
        .as_deref()
        .map(|gid| cache.key(tenant_id, REVOKED_GRANT, gid));
    let (token_revoked, grant_revoked) = tokio::join!(cache.get(&jti_key), async {
        match &grant_key {
            Some(key) => cache.get(key).await,
            None => Ok(None),
        }
    });
    if token_revoked?.is_some() || grant_revoked?.is_some() {
        return Ok(Err(Rejection::Revoked));
    }
    Ok(Ok(claims))
}

/// Revokes every access token issued under the grant `grant_id` (a refresh-token
/// family): RFC 7009 §2.1. Kept for the longest any access token can live
/// ([`MAX_ACCESS_TOKEN_TTL_SECS`]: a tenant's or an API's lifetime is at most that),
/// plus a minute of skew.
pub async fn revoke_grant(cache: &dyn Cache, tenant_id: Uuid, grant_id: Uuid) -> Result<()> {
    cache
        .set(
            &cache.key(tenant_id, REVOKED_GRANT, &grant_id.simple().to_string()),
            b"1",
            Duration::from_secs(u64::from(MAX_ACCESS_TOKEN_TTL_SECS) + 60),
        )
        .await
}

/// Revokes an access token by `jti` until it would have expired anyway.
pub async fn revoke(
    cache: &dyn Cache,
    tenant_id: Uuid,
    jti: &str,
    exp: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let remaining = u64::try_from(exp - now.timestamp()).unwrap_or(0);
    if remaining == 0 {
        return Ok(());
    }
    cache
        .set(
            &cache.key(tenant_id, REVOKED_JTI, jti),
            b"1",
            Duration::from_secs(remaining),
        )
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        cache::memory::MemoryCache,
        core::SettingsPatch,
        crypto::{Keyring, MasterKey},
        journal::audit::Actor,
        keys::signing::KeyStore,
        tenants::{self, NewTenant},
        test_support::{db, now},
    };

    const ISSUER: &str = "http://127.0.0.1:8080/t/acme";

    /// A tenant's parsed keys and a token they signed, valid for 300 s from `now()`.
    async fn keys_and_token() -> (Arc<TenantKeys>, Uuid, String) {
        let db = db().await;
        let keyring = Arc::new(Keyring::new(MasterKey::from_bytes(&[7; 32]), []));
        let tenant = tenants::create(
            &db,
            &keyring,
            &Actor::system(),
            NewTenant {
                slug: "acme".into(),
                display_name: "Acme".into(),
                settings: SettingsPatch::default(),
            },
            now(),
        )
        .await
        .unwrap();
        let keys = KeyStore::new(keyring)
            .get(&db, tenant.id, &[], now())
            .await
            .unwrap();
        let token = token_of_grant(&keys, None);
        (keys, tenant.id, token)
    }

    /// A token signed by `keys`, valid for 300 s from `now()`, of the grant `grant_id`.
    fn token_of_grant(keys: &TenantKeys, grant_id: Option<Uuid>) -> String {
        let subject = Subject {
            id: "user-1".into(),
            auth_time: None,
            sid: None,
            grant_id,
        };
        let scope = ScopeSet::parse("openid").unwrap();
        let claims = claims(
            ISSUER,
            "client-1",
            &subject,
            Audience::one("https://api.example/"),
            &scope,
            300,
            now(),
        )
        .unwrap();
        sign(keys, &claims).unwrap()
    }

    #[tokio::test]
    async fn revoking_a_grant_revokes_its_access_tokens_and_no_others() {
        // Arrange: two tokens of one grant, one of another, one without a grant.
        let (keys, tenant_id, ungranted) = keys_and_token().await;
        let cache = MemoryCache::new("test");
        let (grant, other) = (Uuid::new_v4(), Uuid::new_v4());
        let first = token_of_grant(&keys, Some(grant));
        let second = token_of_grant(&keys, Some(grant));
        let unrelated = token_of_grant(&keys, Some(other));
        let check = |token: String| {
            let (keys, cache) = (&keys, &cache);
            async move {
                verify(keys, cache, tenant_id, ISSUER, &token, now())
                    .await
                    .unwrap()
                    .map(|_| ())
            }
        };
        assert_eq!(check(first.clone()).await, Ok(()));

        // Act
        revoke_grant(&cache, tenant_id, grant).await.unwrap();

        // Assert
        assert_eq!(check(first).await, Err(Rejection::Revoked));
        assert_eq!(check(second).await, Err(Rejection::Revoked));
        assert_eq!(check(unrelated).await, Ok(()));
        assert_eq!(check(ungranted).await, Ok(()));
    }

    #[tokio::test]
    async fn a_remembered_token_skips_the_signature_but_still_expires_and_can_be_revoked() {
        let (keys, tenant_id, token) = keys_and_token().await;
        let cache = MemoryCache::new("test");
        let presented = |issuer: &'static str, at: DateTime<Utc>| {
            let (keys, cache, token) = (&keys, &cache, &token);
            async move {
                verify(keys, cache, tenant_id, issuer, token, at)
                    .await
                    .unwrap()
            }
        };
        let verified = presented(ISSUER, now()).await.unwrap();
        // Make the memo's entry tell apart from a fresh verification: a later
        // presentation answered from the memo returns what the memo holds.
        let remembered = AccessClaims {
            scope: "remembered".into(),
            ..verified.clone()
        };
        let digest = VerifiedTokens::digest(&token);
        keys.verified_tokens()
            .remember(digest, keys.generation(), remembered.clone())
            .await;
        assert_eq!(presented(ISSUER, now()).await, Ok(remembered));
        // Not for another issuer: that goes through the signature check, and fails.
        assert!(presented("http://other/t/x", now()).await.is_err());

        let later = now() + chrono::Duration::seconds(301);
        assert_eq!(
            presented(ISSUER, later).await,
            Err(Rejection::Invalid(VerifyError::Invalid("expired".into())))
        );
        revoke(&cache, tenant_id, &verified.jti, verified.exp, now())
            .await
            .unwrap();
        assert_eq!(presented(ISSUER, now()).await, Err(Rejection::Revoked));
    }
}

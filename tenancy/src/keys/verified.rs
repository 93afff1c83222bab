//! A memo of access tokens whose signature was verified lately.
//!
//! A resource server presents the same access token on every call it serves, to
//! introspection (RFC 7662) or UserInfo, and each presentation cost a full RS256
//! verification plus decoding the JWT (measured: about a third of the server's CPU per
//! introspection). Here a token that verified is remembered by its SHA-256 digest
//! together with the key set that verified it. A later presentation skips the
//! signature check only if the tenant's key set is still that same one: key sets are
//! reloaded within [`crate::keys::signing::KEY_CACHE_TTL`] and at once after a key change on
//! this node, so a removed key stops a memoised token as promptly as it stops a fresh
//! verification. Expiry and revocation are checked on every presentation, memo or not.

use std::{sync::Arc, time::Duration};

use sha2::{Digest, Sha256};

use crate::core::AccessClaims;

/// Tokens remembered at most (a few hundred bytes each).
const MEMO_CAPACITY: u64 = 4096;
/// How long an unused entry stays; it is useless after its key set is reloaded anyway.
const MEMO_IDLE: Duration = Duration::from_secs(30);

/// What a verification established about one token.
struct Verified {
    /// [`crate::keys::signing::TenantKeys::generation`] of the keys that verified it.
    key_set: u64,
    claims: AccessClaims,
}

/// Verified access tokens by digest; cheap to clone, shared by every request.
#[derive(Clone)]
pub(crate) struct VerifiedTokens {
    memo: moka::future::Cache<[u8; 32], Arc<Verified>>,
}

impl VerifiedTokens {
    /// An empty memo.
    pub(crate) fn new() -> Self {
        Self {
            memo: moka::future::Cache::builder()
                .max_capacity(MEMO_CAPACITY)
                .time_to_idle(MEMO_IDLE)
                .build(),
        }
    }

    /// The digest a token is remembered by.
    pub(crate) fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims of `digest`'s token if the key set `key_set` verified it before.
    pub(crate) async fn get(&self, digest: &[u8; 32], key_set: u64) -> Option<AccessClaims> {
        self.memo
            .get(digest)
            .await
            .filter(|hit| hit.key_set == key_set)
            .map(|hit| hit.claims.clone())
    }

    /// Remembers that the key set `key_set` verified `digest`'s token.
    pub(crate) async fn remember(&self, digest: [u8; 32], key_set: u64, claims: AccessClaims) {
        self.memo
            .insert(digest, Arc::new(Verified { key_set, claims }))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(jti: &str) -> AccessClaims {
        AccessClaims {
            iss: "https://issuer.example/t/acme".into(),
            sub: "user-1".into(),
            aud: crate::core::claims::Audience::one("client-1"),
            client_id: "client-1".into(),
            scope: "openid".into(),
            exp: 2_000_000_000,
            iat: 1_999_999_000,
            jti: jti.into(),
            auth_time: None,
            sid: None,
            gid: None,
            roles: None,
        }
    }

    #[tokio::test]
    async fn a_token_is_known_only_to_the_key_set_that_verified_it() {
        let memo = VerifiedTokens::new();
        let digest = VerifiedTokens::digest("header.payload.signature");
        assert_eq!(memo.get(&digest, 1).await, None);
        memo.remember(digest, 1, claims("a")).await;
        assert_eq!(memo.get(&digest, 1).await, Some(claims("a")));
        // Reloaded keys (a rotation, a removed key, the cache's TTL) know nothing.
        assert_eq!(memo.get(&digest, 2).await, None);
        // Another token is another digest.
        let other = VerifiedTokens::digest("header.payload.signaturf");
        assert_ne!(digest, other);
        assert_eq!(memo.get(&other, 1).await, None);
    }
}

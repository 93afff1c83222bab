//! The cache side of a user grant, kept apart from its database transaction.
//!
//! A grant's database writes commit or roll back together, but the cache is not part
//! of that transaction. So a grant takes its code from the cache at once (the atomic
//! `GETDEL` is what makes a code single-use, RFC 6749 §4.1.2) and notes it here; every
//! other cache write it decides (the used-code marker, access-token revocations) waits
//! here too. The caller then settles the grant: [`CacheEffects::committed`] after
//! the commit writes what waited; [`CacheEffects::rolled_back`] after a rollback puts
//! the taken codes back for what is left of their lifetime and drops the rest, so the
//! client's retry redeems its code as if the failed attempt had never happened — and
//! is not mistaken for a replay.

use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Result,
    cache::Cache,
    oauth::codes::{self, CodeGrant, UsedCode},
    oauth::tokens::access,
};

/// A cache write that waits for the grant's commit.
#[derive(Clone, Debug)]
enum AfterCommit {
    /// Remember what a redeemed code issued (RFC 9700 §4.2.4 replay revocation).
    MarkUsed {
        code: String,
        used: Box<UsedCode>,
        keep: std::time::Duration,
    },
    /// Revoke every access token of a refresh-token family (RFC 7009 §2.1).
    RevokeGrant { family: Uuid },
    /// Revoke one access token until it would expire.
    RevokeToken { jti: String, exp: i64 },
}

/// A code taken from the cache by a grant that has not committed yet.
#[derive(Clone, Debug)]
struct Taken {
    code: String,
    grant: CodeGrant,
}

/// The cache effects of one grant (or one attempt at it), settled once its
/// transaction has ended.
#[derive(Debug, Default)]
pub struct CacheEffects {
    after_commit: Mutex<Vec<AfterCommit>>,
    taken: Mutex<Vec<Taken>>,
}

/// A lock that survives a panic of the grant that held it (the panicked grant's
/// effects are still settled: its code is put back).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CacheEffects {
    /// Takes `code` from the cache now (once, atomically) and remembers it, to put it
    /// back if the grant's transaction rolls back.
    pub async fn take_code(
        &self,
        cache: &dyn Cache,
        tenant_id: Uuid,
        code: &str,
    ) -> Result<Option<CodeGrant>> {
        let grant = codes::take(cache, tenant_id, code).await?;
        if let Some(grant) = &grant {
            lock(&self.taken).push(Taken {
                code: code.to_owned(),
                grant: grant.clone(),
            });
        }
        Ok(grant)
    }

    /// Records, once committed, what `code`'s redemption issued, for `keep`.
    pub fn mark_code_used(&self, code: &str, used: UsedCode, keep: std::time::Duration) {
        lock(&self.after_commit).push(AfterCommit::MarkUsed {
            code: code.to_owned(),
            used: Box::new(used),
            keep,
        });
    }

    /// Revokes, once committed, every access token issued under `family`.
    pub fn revoke_grant(&self, family: Uuid) {
        lock(&self.after_commit).push(AfterCommit::RevokeGrant { family });
    }

    /// Revokes, once committed, the access token `jti` (expiring at `exp`).
    pub fn revoke_token(&self, jti: &str, exp: i64) {
        lock(&self.after_commit).push(AfterCommit::RevokeToken {
            jti: jti.to_owned(),
            exp,
        });
    }

    /// The grant's transaction committed: writes what waited, in order.
    pub async fn committed(
        &self,
        cache: &dyn Cache,
        tenant_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        lock(&self.taken).clear();
        let waiting = std::mem::take(&mut *lock(&self.after_commit));
        for effect in waiting {
            match effect {
                AfterCommit::MarkUsed { code, used, keep } => {
                    codes::mark_used(cache, tenant_id, &code, &used, keep).await?;
                }
                AfterCommit::RevokeGrant { family } => {
                    access::revoke_grant(cache, tenant_id, family).await?;
                }
                AfterCommit::RevokeToken { jti, exp } => {
                    access::revoke(cache, tenant_id, &jti, exp, now).await?;
                }
            }
        }
        Ok(())
    }

    /// The grant's transaction rolled back: puts its codes back (for what is left of
    /// their lifetime) and forgets what waited. The effects are empty afterwards, so
    /// the grant can run again.
    pub async fn rolled_back(
        &self,
        cache: &dyn Cache,
        tenant_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        lock(&self.after_commit).clear();
        let taken = std::mem::take(&mut *lock(&self.taken));
        for Taken { code, grant } in taken {
            codes::restore(cache, tenant_id, &code, &grant, now).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::cache::memory::MemoryCache;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    fn code_grant() -> CodeGrant {
        CodeGrant {
            client_id: "app".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            code_challenge: None,
            user_id: Uuid::new_v4(),
            scope: "openid".into(),
            resources: Vec::new(),
            nonce: None,
            auth_time: now().timestamp(),
            sid: "sid".into(),
            amr: vec!["pwd".into()],
            expires_at: now().timestamp() + 60,
        }
    }

    fn used(grant: &CodeGrant) -> UsedCode {
        UsedCode {
            grant: codes::CodeOwner {
                client_id: grant.client_id.clone(),
                code_challenge: None,
                user_id: grant.user_id,
            },
            family_id: None,
            access_jti: "jti".into(),
            access_exp: now().timestamp() + 300,
        }
    }

    #[tokio::test]
    async fn a_rolled_back_grant_puts_its_code_back_and_leaves_no_marker() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let code = codes::issue(&cache, tenant, &code_grant()).await.unwrap();
        let effects = CacheEffects::default();
        let grant = effects
            .take_code(&cache, tenant, &code)
            .await
            .unwrap()
            .unwrap();
        effects.mark_code_used(&code, used(&grant), std::time::Duration::from_secs(300));
        effects.revoke_token("other", now().timestamp() + 300);
        assert!(codes::take(&cache, tenant, &code).await.unwrap().is_none());

        effects.rolled_back(&cache, tenant, now()).await.unwrap();
        assert!(codes::used(&cache, tenant, &code).await.unwrap().is_none());
        let revoked = cache.key(tenant, "revoked_jti", "other");
        assert!(cache.get(&revoked).await.unwrap().is_none());
        let retried = CacheEffects::default();
        assert_eq!(
            retried.take_code(&cache, tenant, &code).await.unwrap(),
            Some(grant)
        );
    }

    #[tokio::test]
    async fn a_committed_grant_writes_its_marker_only_then_and_keeps_its_code_taken() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let code = codes::issue(&cache, tenant, &code_grant()).await.unwrap();
        let effects = CacheEffects::default();
        let grant = effects
            .take_code(&cache, tenant, &code)
            .await
            .unwrap()
            .unwrap();
        effects.mark_code_used(&code, used(&grant), std::time::Duration::from_secs(300));
        assert!(codes::used(&cache, tenant, &code).await.unwrap().is_none());

        effects.committed(&cache, tenant, now()).await.unwrap();
        assert!(codes::used(&cache, tenant, &code).await.unwrap().is_some());
        // Settling again (a rollback after the commit cannot happen) restores nothing.
        effects.rolled_back(&cache, tenant, now()).await.unwrap();
        assert!(codes::take(&cache, tenant, &code).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_expired_code_is_not_put_back() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let code = codes::issue(&cache, tenant, &code_grant()).await.unwrap();
        let effects = CacheEffects::default();
        effects
            .take_code(&cache, tenant, &code)
            .await
            .unwrap()
            .unwrap();
        let later = now() + chrono::Duration::seconds(61);
        effects.rolled_back(&cache, tenant, later).await.unwrap();
        assert!(codes::take(&cache, tenant, &code).await.unwrap().is_none());
    }
}

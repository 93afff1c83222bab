//! Account lockout against password guessing, shared by every node through the cache.
//!
//! Failed logins are counted per tenant and login name (whatever was typed, so the
//! count reveals nothing about whether the account exists). At [`MAX_FAILURES`] within
//! [`WINDOW`] the name is locked until the window ends; a success clears the count.
//! Per-IP throttling lives in the HTTP layer (governor, in-process).

use std::time::Duration;

use uuid::Uuid;

use crate::{Result, cache::Cache, secrets};

/// Failed attempts tolerated per login name within the window.
pub const MAX_FAILURES: i64 = 10;
/// How long failures are remembered, and how long a lockout lasts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
const KIND: &str = "login_failures";

fn key(cache: &dyn Cache, tenant_id: Uuid, login: &str) -> String {
    cache.key(
        tenant_id,
        KIND,
        &secrets::sha256_hex(&login.trim().to_lowercase()),
    )
}

/// Whether `login` is locked out.
pub async fn is_locked(cache: &dyn Cache, tenant_id: Uuid, login: &str) -> Result<bool> {
    let count = cache
        .get(&key(cache, tenant_id, login))
        .await?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(count >= MAX_FAILURES)
}

/// Counts a failed attempt; returns true when this failure locks the name.
pub async fn record_failure(cache: &dyn Cache, tenant_id: Uuid, login: &str) -> Result<bool> {
    Ok(cache.incr(&key(cache, tenant_id, login), WINDOW).await? == MAX_FAILURES)
}

/// Clears the count after a successful login.
pub async fn record_success(cache: &dyn Cache, tenant_id: Uuid, login: &str) -> Result<()> {
    cache
        .delete(&key(cache, tenant_id, login))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::memory::MemoryCache;

    #[tokio::test]
    async fn ten_failures_lock_the_name_and_a_success_clears_the_count() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        for i in 1..MAX_FAILURES {
            assert!(!record_failure(&cache, tenant, "Ann").await.unwrap(), "{i}");
        }
        assert!(!is_locked(&cache, tenant, "ann").await.unwrap());
        assert!(
            record_failure(&cache, tenant, " ANN ").await.unwrap(),
            "the tenth failure locks"
        );
        assert!(is_locked(&cache, tenant, "ann").await.unwrap());
        assert!(
            !is_locked(&cache, Uuid::new_v4(), "ann").await.unwrap(),
            "per tenant"
        );
        record_success(&cache, tenant, "ann").await.unwrap();
        assert!(!is_locked(&cache, tenant, "ann").await.unwrap());
    }
}

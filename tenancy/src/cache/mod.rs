//! The cache: sessions, single-use codes and counters with a time to live.
//!
//! One trait, two implementations: [`memory::MemoryCache`] (the embedded default, one
//! process) and [`redis::RedisCache`] (production, shared by every node). Keys follow
//! `<namespace>:{<tenant_id>}:<kind>:<id>`; the braces are a Redis Cluster hash tag so
//! a tenant's keys live on one shard and can be flushed together when it is deleted.
//!
//! Layering (see the crate doc): may import `core`, `runtime` and `crypto`.

pub mod memory;
pub mod rate_limit;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::Result;

/// Key-value storage with expiry, shared by every node of a deployment.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The prefix of every key (`tessera` by default; tests use a random one).
    fn namespace(&self) -> &str;

    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` under `key` for `ttl`.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;

    /// Removes `key` and returns its value, atomically: of two concurrent takers
    /// exactly one gets the value (used for single-use codes).
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Removes `key`; true if it existed.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Increments the counter under `key`, starting its `ttl` when it is created.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64>;

    /// Removes every key of one tenant; returns how many were removed.
    async fn purge_tenant(&self, tenant_id: Uuid) -> Result<u64>;

    /// Checks that the cache answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    /// Tells every node that something changed (`channel` under the namespace). A no-op
    /// for the in-process cache, which has no other nodes to tell.
    async fn publish(&self, channel: &str, payload: &str) -> Result<()> {
        let _ = (channel, payload);
        Ok(())
    }

    /// The full name of a notification channel.
    fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.namespace())
    }

    /// The key for `kind`/`id` of one tenant.
    fn key(&self, tenant_id: Uuid, kind: &str, id: &str) -> String {
        format!("{}:{{{tenant_id}}}:{kind}:{id}", self.namespace())
    }

    /// The prefix shared by all of one tenant's keys.
    fn tenant_prefix(&self, tenant_id: Uuid) -> String {
        format!("{}:{{{tenant_id}}}:", self.namespace())
    }
}

/// The contract both implementations must meet, run against each in their tests.
#[cfg(test)]
pub(crate) mod contract {
    use std::sync::Arc;

    use super::*;

    pub async fn run(cache: Arc<dyn Cache>) {
        let tenant = Uuid::new_v4();
        let other = Uuid::new_v4();
        let a = cache.key(tenant, "session", "a");
        let b = cache.key(tenant, "code", "b");
        let c = cache.key(other, "session", "c");
        assert!(a.contains(&format!("{{{tenant}}}")));

        assert_eq!(cache.get(&a).await.unwrap(), None);
        cache
            .set(&a, b"one", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cache.get(&a).await.unwrap().as_deref(), Some(&b"one"[..]));

        cache
            .set(&b, b"code", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cache.take(&b).await.unwrap().as_deref(), Some(&b"code"[..]));
        assert_eq!(cache.take(&b).await.unwrap(), None);

        assert_eq!(cache.incr(&b, Duration::from_secs(60)).await.unwrap(), 1);
        assert_eq!(cache.incr(&b, Duration::from_secs(60)).await.unwrap(), 2);

        cache
            .set(&c, b"other", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cache.purge_tenant(tenant).await.unwrap(), 2);
        assert_eq!(cache.get(&a).await.unwrap(), None);
        assert_eq!(cache.get(&c).await.unwrap().as_deref(), Some(&b"other"[..]));

        assert!(cache.delete(&c).await.unwrap());
        assert!(!cache.delete(&c).await.unwrap());

        // Exactly one of many concurrent takers wins.
        cache
            .set(&b, b"once", Duration::from_secs(60))
            .await
            .unwrap();
        let takers: Vec<_> = (0..16)
            .map(|_| {
                let cache = cache.clone();
                let key = b.clone();
                tokio::spawn(async move { cache.take(&key).await.unwrap().is_some() })
            })
            .collect();
        let mut wins = 0;
        for taker in takers {
            if taker.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
        cache.ping().await.unwrap();
    }
}

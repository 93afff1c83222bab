//! The Redis cache: shared by every node, the production backend.
//!
//! Redis must never evict Tessera's keys: lockouts, failure counters, revoked token
//! ids and used-code markers are security state, and every key carries a TTL, so the
//! `volatile-*` policies would evict them as readily as the `allkeys-*` ones. The one
//! policy Tessera accepts is `maxmemory-policy noeviction` (the Redis default): a full
//! Redis then refuses writes, and Tessera answers 503 (fail closed) instead of
//! forgetting a lockout. [`RedisCache::eviction_policy`] reads the policy at start;
//! the server refuses to start on any other. Where `CONFIG` is disabled (managed
//! services rename it; set the policy in their parameter group) it cannot be read,
//! and the server starts with a warning.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{Config, Connection, Pool, Runtime, redis};
use uuid::Uuid;

use super::Cache;
use crate::{Error, Result};

/// How many keys one `SCAN` step asks for while purging a tenant.
const SCAN_BATCH: usize = 500;

/// A [`Cache`] on Redis (or Redis Cluster: a tenant's keys share a hash tag).
pub struct RedisCache {
    namespace: String,
    pool: Pool,
}

impl RedisCache {
    /// Connects lazily to `url` (`redis://host:port/db`); keys start with `namespace`.
    pub fn connect(url: &str, namespace: impl Into<String>) -> Result<Self> {
        let pool = Config::from_url(url)
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| Error::invalid("redis_url", format!("cannot use this Redis URL: {e}")))?;
        Ok(Self {
            namespace: namespace.into(),
            pool,
        })
    }

    /// The server's `maxmemory-policy`, or `None` when `CONFIG GET` is refused (a
    /// managed Redis that disables or renames `CONFIG`). Unreachable is an error.
    pub async fn eviction_policy(&self) -> Result<Option<String>> {
        let mut conn = self.conn().await?;
        let reply: std::result::Result<Vec<String>, _> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut conn)
            .await;
        match reply {
            Ok(pair) => Ok(pair.into_iter().nth(1)),
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                Err(unavailable(e))
            }
            Err(_) => Ok(None),
        }
    }

    async fn conn(&self) -> Result<Connection> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Unavailable(format!("redis: {e}")))
    }
}

/// Whether a Redis with this `maxmemory-policy` keeps every key until its TTL ends:
/// only `noeviction` does (see the module docs).
pub fn policy_keeps_security_state(policy: &str) -> bool {
    policy.eq_ignore_ascii_case("noeviction")
}

fn unavailable(e: redis::RedisError) -> Error {
    Error::Unavailable(format!("redis: {e}"))
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Escapes Redis glob metacharacters so a prefix matches literally in `SCAN MATCH`.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 8);
    for ch in prefix.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[async_trait]
impl Cache for RedisCache {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.conn().await?;
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let mut conn = self.conn().await?;
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.conn().await?;
        redis::cmd("GETDEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let mut conn = self.conn().await?;
        let removed: i64 = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64> {
        let mut conn = self.conn().await?;
        // INCR then PEXPIRE NX in one transaction: the TTL starts with the first increment.
        let (count, _): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(key)
            .cmd("PEXPIRE")
            .arg(key)
            .arg(millis(ttl))
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    async fn purge_tenant(&self, tenant_id: Uuid) -> Result<u64> {
        let pattern = format!("{}*", glob_escape(&self.tenant_prefix(tenant_id)));
        let mut conn = self.conn().await?;
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn publish(&self, channel: &str, payload: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        redis::cmd("PUBLISH")
            .arg(self.channel(channel))
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// Forwards every payload published on `channel` (a full name, see [`Cache::channel`])
/// to `sink` until the subscription connection drops; the caller reconnects.
pub async fn listen(
    url: &str,
    channel: &str,
    sink: &tokio::sync::mpsc::UnboundedSender<String>,
) -> Result<()> {
    use futures_util::StreamExt;
    let client = redis::Client::open(url).map_err(unavailable)?;
    let mut pubsub = client.get_async_pubsub().await.map_err(unavailable)?;
    pubsub.subscribe(channel).await.map_err(unavailable)?;
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        if let Ok(payload) = message.get_payload::<String>()
            && sink.send(payload).is_err()
        {
            return Ok(());
        }
    }
    Err(Error::Unavailable("redis subscription closed".into()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn redis_cache_meets_the_cache_contract() {
        // Runs only where CI provides Redis; the embedded run covers MemoryCache.
        let Ok(url) = std::env::var("TESSERA_TEST_REDIS_URL") else {
            return;
        };
        let namespace = format!("tessera-test-{}", Uuid::new_v4().simple());
        let cache = RedisCache::connect(&url, namespace).unwrap();
        super::super::contract::run(Arc::new(cache)).await;
    }

    #[test]
    fn only_noeviction_keeps_security_state() {
        assert!(policy_keeps_security_state("noeviction"));
        for policy in [
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            assert!(!policy_keeps_security_state(policy), "{policy}");
        }
    }

    #[tokio::test]
    async fn the_eviction_policy_is_read_from_redis() {
        let Ok(url) = std::env::var("TESSERA_TEST_REDIS_URL") else {
            return;
        };
        let cache = RedisCache::connect(&url, "t").unwrap();
        let policy = cache.eviction_policy().await.unwrap();
        assert!(policy.is_some_and(|p| !p.is_empty()));
    }

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(glob_escape("ns:{id}:"), "ns:{id}:");
    }

    #[tokio::test]
    async fn an_unreachable_redis_reports_unavailable() {
        let cache = RedisCache::connect("redis://127.0.0.1:1", "t").unwrap();
        assert!(matches!(cache.ping().await, Err(Error::Unavailable(_))));
    }
}

//! The in-process cache: the embedded default for a single node.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use uuid::Uuid;

use super::Cache;
use crate::{Error, Result};

/// Expired entries are swept once every this many writes, so memory stays bounded by
/// live entries without a background task.
const SWEEP_EVERY: u64 = 1024;

struct Entry {
    value: Vec<u8>,
    expires_at: Instant,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    writes: u64,
}

/// A process-local [`Cache`]; correct for one node only.
pub struct MemoryCache {
    namespace: String,
    inner: Mutex<Inner>,
}

impl MemoryCache {
    /// An empty cache whose keys start with `namespace`.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::Unavailable("in-process cache lock poisoned".into()))
    }
}

impl Inner {
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires_at <= now) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn note_write(&mut self, now: Instant) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.entries.retain(|_, e| e.expires_at > now);
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut inner = self.lock()?;
        Ok(inner.live(key, Instant::now()).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at: now + ttl,
            },
        );
        inner.note_write(now);
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        Ok(inner
            .entries
            .remove(key)
            .filter(|e| e.expires_at > now)
            .map(|e| e.value))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        Ok(inner
            .entries
            .remove(key)
            .is_some_and(|e| e.expires_at > now))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let next = match inner.live(key, now) {
            Some(entry) => {
                let current = std::str::from_utf8(&entry.value)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0);
                let next = current.saturating_add(1);
                entry.value = next.to_string().into_bytes();
                next
            }
            None => {
                inner.entries.insert(
                    key.to_owned(),
                    Entry {
                        value: b"1".to_vec(),
                        expires_at: now + ttl,
                    },
                );
                1
            }
        };
        inner.note_write(now);
        Ok(next)
    }

    async fn purge_tenant(&self, tenant_id: Uuid) -> Result<u64> {
        let prefix = self.tenant_prefix(tenant_id);
        let now = Instant::now();
        let mut inner = self.lock()?;
        let before = inner.entries.len();
        let mut live_removed = 0u64;
        inner.entries.retain(|k, e| {
            let drop = k.starts_with(&prefix);
            if drop && e.expires_at > now {
                live_removed += 1;
            }
            !drop
        });
        debug_assert!(inner.entries.len() <= before);
        Ok(live_removed)
    }

    async fn ping(&self) -> Result<()> {
        self.lock().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn memory_cache_meets_the_cache_contract() {
        super::super::contract::run(Arc::new(MemoryCache::new("test"))).await;
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let cache = MemoryCache::new("test");
        cache.set("k", b"v", Duration::ZERO).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None);
        assert_eq!(cache.take("k").await.unwrap(), None);
    }
}

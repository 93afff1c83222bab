//! The in-process cache: the embedded default for a single node.
//!
//! Bounded: the entries (keys, values and a fixed overhead each) may take at most
//! `max_bytes` (`TESSERA_CACHE_MAX_BYTES`, default [`DEFAULT_MAX_BYTES`]). Entries fall
//! in two classes by the kind in their key:
//! - *evictable*: browser state that a flood of anonymous requests creates and whose
//!   loss only means "start the sign-in again" ([`EVICTABLE_KINDS`]: sessions,
//!   pending interactions, passkey ceremonies), and reference access tokens, whose
//!   loss only means "inactive: get a new token" (fail closed: an evicted token grants
//!   nothing). When the cache is full, the evictable entry that expires soonest makes
//!   room first (anonymous entries live minutes, access tokens minutes, signed-in
//!   sessions hours, so a flood evicts itself before real sessions). So a client that
//!   mints reference tokens as fast as it may cannot fill the cache with them and
//!   turn away other tenants' sign-ins.
//! - *kept*: everything else, which is security state or counts toward it (lockouts
//!   and failure counters, revoked token ids, used-code markers, codes, session
//!   indexes, mail counters) and any kind added later. It is never evicted: when only
//!   kept entries are left and a new entry does not fit, the write fails with
//!   [`Error::Unavailable`] (the request gets 503; fail closed) and nothing is lost.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Cache;
use crate::{Error, Result};

/// Expired entries are swept once every this many writes, so memory stays bounded by
/// live entries without a background task.
const SWEEP_EVERY: u64 = 1024;
/// The default capacity: 128 MiB.
pub const DEFAULT_MAX_BYTES: usize = 128 * 1024 * 1024;
/// Bytes an entry is counted for beyond its key and value (map slots, timestamps).
const ENTRY_OVERHEAD: usize = 96;
/// Key kinds whose entries may be evicted when the cache is full (see the module docs).
pub const EVICTABLE_KINDS: [&str; 5] = [
    "session",
    "interaction",
    "passkey_reg",
    "passkey_auth",
    REFERENCE_ACCESS_TOKEN,
];
/// The kind under which reference access tokens' claims are kept.
pub const REFERENCE_ACCESS_TOKEN: &str = "reference_at";

/// What an entry is stored under: the SHA-256 of its key. A key is 100 to 150 bytes
/// of text (namespace, tenant, kind, id) and is held by the map and by one or two
/// orders; its digest is 32 bytes, so a live reference token, say, costs two thirds of
/// what it did. SHA-256 is collision-resistant, so two keys never share an entry.
type KeyDigest = [u8; 32];

fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

struct Entry {
    value: Box<[u8]>,
    expires_at: Instant,
    /// Insertion number: the entry's place in `expiry` (and in `evictable`).
    order: u64,
    /// Whether it is in the eviction order.
    evictable: bool,
    /// The tenant in its key, for [`Cache::purge_tenant`].
    tenant: Option<Uuid>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<KeyDigest, Entry>,
    /// Every entry by (expiry, insertion number): a sweep takes the expired ones
    /// from the front, in time proportional to what it removes, not to the cache.
    expiry: BTreeMap<(Instant, u64), KeyDigest>,
    /// Evictable entries by (expiry, insertion number): the first goes first.
    evictable: BTreeMap<(Instant, u64), KeyDigest>,
    used: usize,
    next_order: u64,
    writes: u64,
}

/// A process-local [`Cache`]; correct for one node only.
pub struct MemoryCache {
    namespace: String,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

/// Whether `key` (`<namespace>:{<tenant>}:<kind>:<id>`) is of an evictable kind.
fn is_evictable(key: &str) -> bool {
    key.split_once("}:")
        .and_then(|(_, rest)| rest.split(':').next())
        .is_some_and(|kind| EVICTABLE_KINDS.contains(&kind))
}

/// The tenant of `key` (`<namespace>:{<tenant>}:...`), if it names one.
fn tenant_of(key: &str) -> Option<Uuid> {
    let (_, rest) = key.split_once(":{")?;
    let (tenant, _) = rest.split_once('}')?;
    Uuid::parse_str(tenant).ok()
}

fn cost(value: &[u8], evictable: bool) -> usize {
    // A key's digest is held in the map and the expiry order, an evictable one's also
    // in the eviction order.
    let orders = if evictable { 3 } else { 2 };
    orders * std::mem::size_of::<KeyDigest>() + value.len() + ENTRY_OVERHEAD
}

impl MemoryCache {
    /// An empty cache whose keys start with `namespace`, of [`DEFAULT_MAX_BYTES`].
    pub fn new(namespace: impl Into<String>) -> Self {
        Self::with_capacity(namespace, DEFAULT_MAX_BYTES)
    }

    /// An empty cache that holds at most `max_bytes` of entries.
    pub fn with_capacity(namespace: impl Into<String>, max_bytes: usize) -> Self {
        Self {
            namespace: namespace.into(),
            max_bytes,
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
    fn live(&mut self, key: &KeyDigest, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires_at <= now) {
            self.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn remove(&mut self, key: &KeyDigest) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.used = self
            .used
            .saturating_sub(cost(&entry.value, entry.evictable));
        self.expiry.remove(&(entry.expires_at, entry.order));
        if entry.evictable {
            self.evictable.remove(&(entry.expires_at, entry.order));
        }
        Some(entry)
    }

    /// Stores a new entry under `key` (replacing any), making room by evicting
    /// evictable entries; refuses when only kept entries would have to go.
    fn insert(
        &mut self,
        key: &str,
        value: Box<[u8]>,
        expires_at: Instant,
        max: usize,
        now: Instant,
    ) -> Result<()> {
        let id = digest(key);
        self.remove(&id);
        let evictable = is_evictable(key);
        let needed = cost(&value, evictable);
        if self.used.saturating_add(needed) > max {
            self.sweep(now);
        }
        while self.used.saturating_add(needed) > max {
            let Some(victim) = self.evictable.first_key_value().map(|(_, k)| *k) else {
                return Err(Error::Unavailable(
                    "the in-process cache is full (TESSERA_CACHE_MAX_BYTES)".into(),
                ));
            };
            self.remove(&victim);
        }
        self.next_order = self.next_order.wrapping_add(1);
        let order = self.next_order;
        self.expiry.insert((expires_at, order), id);
        if evictable {
            self.evictable.insert((expires_at, order), id);
        }
        self.used = self.used.saturating_add(needed);
        self.entries.insert(
            id,
            Entry {
                value,
                expires_at,
                order,
                evictable,
                tenant: tenant_of(key),
            },
        );
        Ok(())
    }

    fn sweep(&mut self, now: Instant) {
        while let Some(((expires_at, _), key)) = self.expiry.first_key_value() {
            if *expires_at > now {
                break;
            }
            let key = *key;
            self.remove(&key);
        }
    }

    fn note_write(&mut self, now: Instant) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.sweep(now);
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
        Ok(inner
            .live(&digest(key), Instant::now())
            .map(|e| e.value.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        inner.insert(key, value.into(), now + ttl, self.max_bytes, now)?;
        inner.note_write(now);
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        Ok(inner
            .remove(&digest(key))
            .filter(|e| e.expires_at > now)
            .map(|e| e.value.into_vec()))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        Ok(inner
            .remove(&digest(key))
            .is_some_and(|e| e.expires_at > now))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let bumped = inner.live(&digest(key), now).map(|entry| {
            let current = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            let next = current.saturating_add(1);
            let before = entry.value.len();
            entry.value = next.to_string().into_bytes().into_boxed_slice();
            (next, before, entry.value.len())
        });
        let next = match bumped {
            Some((next, before, after)) => {
                inner.used = inner.used.saturating_add(after).saturating_sub(before);
                next
            }
            None => {
                inner.insert(key, Box::new(*b"1"), now + ttl, self.max_bytes, now)?;
                1
            }
        };
        inner.note_write(now);
        Ok(next)
    }

    async fn purge_tenant(&self, tenant_id: Uuid) -> Result<u64> {
        let now = Instant::now();
        let mut inner = self.lock()?;
        let doomed: Vec<KeyDigest> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.tenant == Some(tenant_id))
            .map(|(k, _)| *k)
            .collect();
        let mut live_removed = 0u64;
        for key in doomed {
            if inner.remove(&key).is_some_and(|e| e.expires_at > now) {
                live_removed += 1;
            }
        }
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

    const TTL: Duration = Duration::from_secs(600);

    fn key(cache: &MemoryCache, tenant: Uuid, kind: &str, id: usize) -> String {
        cache.key(tenant, kind, &format!("{id:08}"))
    }

    #[tokio::test]
    async fn a_flood_of_evictable_entries_never_evicts_security_state() {
        // Arrange: room for about 80 small entries; 40 of them are security state.
        let cache = MemoryCache::with_capacity("test", 80 * 160);
        let tenant = Uuid::new_v4();
        for i in 0..20 {
            cache
                .set(&key(&cache, tenant, "code_used", i), b"1", TTL)
                .await
                .unwrap();
            cache
                .incr(&key(&cache, tenant, "login_lock", i), TTL)
                .await
                .unwrap();
        }

        // Act: a thousand anonymous sessions and interactions.
        for i in 0..1000 {
            cache
                .set(&key(&cache, tenant, "session", i), &[0; 32], TTL)
                .await
                .unwrap();
            cache
                .set(&key(&cache, tenant, "interaction", i), &[0; 32], TTL)
                .await
                .unwrap();
        }

        // Assert: every security entry is still there, the cache stayed in bounds.
        for i in 0..20 {
            assert!(
                cache
                    .get(&key(&cache, tenant, "code_used", i))
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(
                cache
                    .get(&key(&cache, tenant, "login_lock", i))
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        assert!(cache.lock().unwrap().used <= 80 * 160);
        // The newest anonymous entry made it in; the oldest were evicted.
        assert!(
            cache
                .get(&key(&cache, tenant, "interaction", 999))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            cache
                .get(&key(&cache, tenant, "session", 0))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_evictable_entry_that_expires_soonest_goes_first() {
        let cache = MemoryCache::with_capacity("test", 10 * 160);
        let tenant = Uuid::new_v4();
        let signed_in = key(&cache, tenant, "session", 0);
        cache
            .set(&signed_in, &[0; 32], Duration::from_secs(36_000))
            .await
            .unwrap();
        for i in 1..100 {
            cache
                .set(&key(&cache, tenant, "session", i), &[0; 32], TTL)
                .await
                .unwrap();
        }
        assert!(cache.get(&signed_in).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_client_minting_reference_tokens_cannot_fill_the_cache_for_sign_ins() {
        // Room for about 20 entries; a signed-in session lives longer than a token.
        let cache = MemoryCache::with_capacity("test", 20 * 160);
        let tenant = Uuid::new_v4();
        let signed_in = key(&cache, tenant, "session", 0);
        cache
            .set(&signed_in, &[0; 32], Duration::from_secs(36_000))
            .await
            .unwrap();
        let code = key(&cache, tenant, "code", 0);
        cache
            .set(&code, b"grant", Duration::from_secs(60))
            .await
            .unwrap();
        for i in 0..1000 {
            cache
                .set(
                    &key(&cache, tenant, REFERENCE_ACCESS_TOKEN, i),
                    &[0; 32],
                    TTL,
                )
                .await
                .expect("older tokens make room");
        }
        assert!(cache.get(&signed_in).await.unwrap().is_some());
        assert!(
            cache.get(&code).await.unwrap().is_some(),
            "security state is kept"
        );
        let newest = key(&cache, tenant, REFERENCE_ACCESS_TOKEN, 999);
        assert!(cache.get(&newest).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_cache_full_of_security_state_refuses_new_entries_and_keeps_the_old() {
        // Arrange
        let cache = MemoryCache::with_capacity("test", 10 * 160);
        let tenant = Uuid::new_v4();
        let mut stored = 0;
        let refused = loop {
            match cache
                .set(&key(&cache, tenant, "revoked_jti", stored), b"1", TTL)
                .await
            {
                Ok(()) => stored += 1,
                Err(err) => break err,
            }
        };

        // Assert: fail closed, nothing already stored is lost, evictable writes too
        // are refused (there is nothing they may evict).
        assert!(matches!(refused, Error::Unavailable(_)));
        assert!(stored >= 5);
        for i in 0..stored {
            assert!(
                cache
                    .get(&key(&cache, tenant, "revoked_jti", i))
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        assert!(
            cache
                .set(&key(&cache, tenant, "session", 1), &[0; 64], TTL)
                .await
                .is_err()
        );
        assert!(
            cache
                .incr(&key(&cache, tenant, "login_attempts", 1), TTL)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let cache = MemoryCache::new("test");
        cache.set("k", b"v", Duration::ZERO).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None);
        assert_eq!(cache.take("k").await.unwrap(), None);
    }
}

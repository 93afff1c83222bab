//! The in-process cache: the embedded default for a single node.
//!
//! Bounded: the entries (keys, values and what the maps hold for each) may take at most
//! `max_bytes` (`TESSERA_CACHE_MAX_BYTES`, default [`DEFAULT_MAX_BYTES`]). Entries fall
//! in two classes by the kind in their key:
//! - *evictable*: browser state that a flood of anonymous requests creates and whose
//!   loss only means "start the sign-in again" ([`EVICTABLE_KINDS`]: sessions,
//!   pending interactions, passkey ceremonies), and reference access tokens, whose
//!   loss only means "inactive: get a new token" (fail closed: an evicted token grants
//!   nothing). When the cache is full, the evictable entries that expire soonest make
//!   room first, to the second (anonymous entries live minutes, access tokens minutes,
//!   signed-in sessions hours, so a flood evicts itself before real sessions). So a
//!   client that mints reference tokens as fast as it may cannot fill the cache with
//!   them and turn away other tenants' sign-ins.
//! - *kept*: everything else, which is security state or counts toward it (lockouts
//!   and failure counters, revoked token ids, used-code markers, codes, session
//!   indexes, mail counters) and any kind added later. It is never evicted: when only
//!   kept entries are left and a new entry does not fit, the write fails with
//!   [`Error::Unavailable`] (the request gets 503; fail closed) and nothing is lost.
//!
//! Layout, chosen for what a live entry costs (a reference token is most of them under
//! load): one map from the SHA-256 of the key to the entry, and, per class, the keys
//! grouped in buckets by the second they expire in, in the order they were written.
//! An entry knows its place in its bucket, so removing one leaves a tombstone there
//! (a bucket is compacted once half of it is tombstones), eviction takes a bucket's
//! oldest key first, and expired entries are swept a whole second at a time.

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
/// Bytes an entry is counted for beyond its value: its map slot (a 32-byte digest and
/// a 40-byte [`Entry`], in a table kept between 7/16 and 7/8 full) and its digest in
/// an expiry bucket (a vector, up to half of it spare). Measured, not a bound: see
/// `docs/performance.md`.
const ENTRY_OVERHEAD: usize = 144;
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
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// What an entry is stored under: the SHA-256 of its key. A key is 100 to 150 bytes
/// of text (namespace, tenant, kind, id) and is held by the map and by its bucket; its
/// digest is 32 bytes. SHA-256 is collision-resistant, so two keys never share an
/// entry.
type KeyDigest = [u8; 32];

fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// 40 bytes: what the map holds for a key besides its digest.
struct Entry {
    value: Box<[u8]>,
    /// When it expires, in nanoseconds since the cache was made.
    expires_at: u64,
    /// Its place in its expiry bucket.
    slot: u32,
    /// The tenant in its key, for [`Cache::purge_tenant`]: 0 for none, else one more
    /// than its number in [`Inner::tenants`].
    tenant: u32,
    /// Whether it is in the evictable buckets.
    evictable: bool,
}

/// Where a removed key was in its bucket (no key's SHA-256 is all zeros).
const TOMBSTONE: KeyDigest = [0; 32];

/// The keys expiring in one second, in the order they were written; removed ones are
/// tombstones until the bucket is compacted.
#[derive(Default)]
struct Bucket {
    keys: Vec<KeyDigest>,
    /// Tombstones among `keys`.
    dead: usize,
    /// Every key before this one is a tombstone (where eviction looks first).
    head: usize,
}

/// The keys of one class by the second they expire in.
type Buckets = BTreeMap<u64, Bucket>;

#[derive(Default)]
struct Inner {
    entries: HashMap<KeyDigest, Entry>,
    /// Kept entries by expiry second.
    kept: Buckets,
    /// Evictable entries by expiry second: the first bucket goes first.
    evictable: Buckets,
    /// The tenants keys have named, numbered from 1 (a handful per deployment).
    tenants: HashMap<Uuid, u32>,
    used: usize,
    writes: u64,
}

/// A process-local [`Cache`]; correct for one node only.
pub struct MemoryCache {
    namespace: String,
    max_bytes: usize,
    /// The zero of entries' expiry times.
    epoch: Instant,
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

/// What an entry holding `value` is counted for: the value as the allocator rounds it
/// (to 16 bytes), and the entry's share of the maps.
fn cost(value: &[u8]) -> usize {
    value.len().next_multiple_of(16) + ENTRY_OVERHEAD
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
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::Unavailable("in-process cache lock poisoned".into()))
    }

    /// Now, in the cache's time (nanoseconds since it was made).
    fn now(&self) -> u64 {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Inner {
    fn live(&mut self, key: &KeyDigest, now: u64) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires_at <= now) {
            self.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn remove(&mut self, key: &KeyDigest) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.used = self.used.saturating_sub(cost(&entry.value));
        let buckets = if entry.evictable {
            &mut self.evictable
        } else {
            &mut self.kept
        };
        let second = entry.expires_at / NANOS_PER_SEC;
        if let Some(bucket) = buckets.get_mut(&second)
            && let Some(slot) = bucket.keys.get_mut(entry.slot as usize)
        {
            *slot = TOMBSTONE;
            bucket.dead += 1;
            if bucket.dead == bucket.keys.len() {
                buckets.remove(&second);
            } else if bucket.dead * 2 > bucket.keys.len() {
                // Compact, keeping the order; the keys that moved learn their place.
                bucket.keys.retain(|key| *key != TOMBSTONE);
                bucket.dead = 0;
                bucket.head = 0;
                for (slot, key) in bucket.keys.iter().enumerate() {
                    if let Some(moved) = self.entries.get_mut(key) {
                        moved.slot = u32::try_from(slot).unwrap_or(u32::MAX);
                    }
                }
            }
        }
        Some(entry)
    }

    /// Removes the entries of a bucket taken out of its map.
    fn drop_bucket(&mut self, bucket: Bucket) {
        for key in bucket.keys {
            if let Some(entry) = self.entries.remove(&key) {
                self.used = self.used.saturating_sub(cost(&entry.value));
            }
        }
    }

    /// Evicts the oldest-written of the evictable entries that expire soonest; false
    /// if there is none.
    fn evict_one(&mut self) -> bool {
        let Some(mut soonest) = self.evictable.first_entry() else {
            return false;
        };
        let bucket = soonest.get_mut();
        let victim = bucket
            .keys
            .iter_mut()
            .enumerate()
            .skip(bucket.head)
            .find(|(_, key)| **key != TOMBSTONE)
            .map(|(at, key)| (at, std::mem::replace(key, TOMBSTONE)));
        match victim {
            Some((at, key)) => {
                bucket.dead += 1;
                bucket.head = at + 1;
                if bucket.dead == bucket.keys.len() {
                    soonest.remove();
                }
                if let Some(entry) = self.entries.remove(&key) {
                    self.used = self.used.saturating_sub(cost(&entry.value));
                }
            }
            // Only tombstones (never left so, but harmless): drop the bucket.
            None => {
                soonest.remove();
            }
        }
        true
    }

    /// Stores a new entry under `key` (replacing any), making room by evicting
    /// evictable entries; refuses when only kept entries would have to go.
    fn insert(
        &mut self,
        key: &str,
        value: Box<[u8]>,
        expires_at: u64,
        max: usize,
        now: u64,
    ) -> Result<()> {
        let id = digest(key);
        self.remove(&id);
        let evictable = is_evictable(key);
        let needed = cost(&value);
        if self.used.saturating_add(needed) > max {
            self.sweep(now);
        }
        while self.used.saturating_add(needed) > max {
            if self.evict_one() {
                continue;
            }
            // Last resort before refusing: kept entries that expired this second.
            if !self.sweep_current_second(now) {
                return Err(Error::Unavailable(
                    "the in-process cache is full (TESSERA_CACHE_MAX_BYTES)".into(),
                ));
            }
        }
        let tenant = match tenant_of(key) {
            Some(tenant) => {
                let next = u32::try_from(self.tenants.len() + 1).unwrap_or(u32::MAX);
                *self.tenants.entry(tenant).or_insert(next)
            }
            None => 0,
        };
        let buckets = if evictable {
            &mut self.evictable
        } else {
            &mut self.kept
        };
        let bucket = buckets.entry(expires_at / NANOS_PER_SEC).or_default();
        let slot = u32::try_from(bucket.keys.len()).unwrap_or(u32::MAX);
        bucket.keys.push(id);
        self.used = self.used.saturating_add(needed);
        self.entries.insert(
            id,
            Entry {
                value,
                expires_at,
                slot,
                tenant,
                evictable,
            },
        );
        Ok(())
    }

    /// Removes every entry of the seconds that have passed.
    fn sweep(&mut self, now: u64) {
        let second = now / NANOS_PER_SEC;
        for class in [true, false] {
            loop {
                let buckets = if class {
                    &mut self.evictable
                } else {
                    &mut self.kept
                };
                let Some(first) = buckets.first_entry() else {
                    break;
                };
                if *first.key() >= second {
                    break;
                }
                let bucket = first.remove();
                self.drop_bucket(bucket);
            }
        }
    }

    /// Removes the kept entries of the current second that have expired; whether
    /// any were.
    fn sweep_current_second(&mut self, now: u64) -> bool {
        let expired: Vec<KeyDigest> = self
            .kept
            .get(&(now / NANOS_PER_SEC))
            .into_iter()
            .flat_map(|bucket| &bucket.keys)
            .filter(|key| self.entries.get(*key).is_some_and(|e| e.expires_at <= now))
            .copied()
            .collect();
        for key in &expired {
            self.remove(key);
        }
        !expired.is_empty()
    }

    fn note_write(&mut self, now: u64) {
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
        let now = self.now();
        let mut inner = self.lock()?;
        Ok(inner.live(&digest(key), now).map(|e| e.value.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let now = self.now();
        let mut inner = self.lock()?;
        inner.insert(
            key,
            value.into(),
            now.saturating_add(nanos(ttl)),
            self.max_bytes,
            now,
        )?;
        inner.note_write(now);
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let now = self.now();
        let mut inner = self.lock()?;
        Ok(inner
            .remove(&digest(key))
            .filter(|e| e.expires_at > now)
            .map(|e| e.value.into_vec()))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let now = self.now();
        let mut inner = self.lock()?;
        Ok(inner
            .remove(&digest(key))
            .is_some_and(|e| e.expires_at > now))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64> {
        let now = self.now();
        let mut inner = self.lock()?;
        let bumped = inner.live(&digest(key), now).map(|entry| {
            let current = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            let next = current.saturating_add(1);
            let before = cost(&entry.value);
            entry.value = next.to_string().into_bytes().into_boxed_slice();
            (next, before, cost(&entry.value))
        });
        let next = match bumped {
            Some((next, before, after)) => {
                inner.used = inner.used.saturating_add(after).saturating_sub(before);
                next
            }
            None => {
                inner.insert(
                    key,
                    Box::new(*b"1"),
                    now.saturating_add(nanos(ttl)),
                    self.max_bytes,
                    now,
                )?;
                1
            }
        };
        inner.note_write(now);
        Ok(next)
    }

    async fn purge_tenant(&self, tenant_id: Uuid) -> Result<u64> {
        let now = self.now();
        let mut inner = self.lock()?;
        let Some(&tenant) = inner.tenants.get(&tenant_id) else {
            return Ok(0);
        };
        let doomed: Vec<KeyDigest> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.tenant == tenant)
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

    /// Whether `key` has a live entry.
    async fn holds(cache: &MemoryCache, key: &str) -> bool {
        cache.get(key).await.unwrap().is_some()
    }

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
            assert!(holds(&cache, &key(&cache, tenant, "code_used", i)).await);
            assert!(holds(&cache, &key(&cache, tenant, "login_lock", i)).await);
        }
        assert!(cache.lock().unwrap().used <= 80 * 160);
        // The newest anonymous entry made it in; the oldest were evicted.
        assert!(holds(&cache, &key(&cache, tenant, "interaction", 999)).await);
        assert!(!holds(&cache, &key(&cache, tenant, "session", 0)).await);
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
            assert!(holds(&cache, &key(&cache, tenant, "revoked_jti", i)).await);
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

    /// Every entry is where its slot says, in the bucket of its class and second, and
    /// the count of bytes in use is the sum of what the entries cost.
    fn assert_consistent(cache: &MemoryCache) {
        let inner = cache.lock().unwrap();
        let mut used = 0;
        for (key, entry) in &inner.entries {
            let buckets = if entry.evictable {
                &inner.evictable
            } else {
                &inner.kept
            };
            let bucket = &buckets[&(entry.expires_at / NANOS_PER_SEC)];
            assert_eq!(&bucket.keys[entry.slot as usize], key);
            used += cost(&entry.value);
        }
        let buckets = || inner.kept.values().chain(inner.evictable.values());
        let live: usize = buckets().map(|b| b.keys.len() - b.dead).sum();
        assert_eq!(
            live,
            inner.entries.len(),
            "no bucket holds a key twice or a stale one"
        );
        for bucket in buckets() {
            let dead = bucket.keys.iter().filter(|k| **k == TOMBSTONE).count();
            assert_eq!(dead, bucket.dead);
            assert!(dead < bucket.keys.len(), "an emptied bucket is dropped");
            assert!(bucket.keys[..bucket.head].iter().all(|k| *k == TOMBSTONE));
        }
        assert_eq!(inner.used, used);
    }

    #[tokio::test]
    async fn removing_replacing_and_evicting_keep_every_entry_in_its_place() {
        // Arrange: entries of both classes over a few expiry seconds.
        let cache = MemoryCache::with_capacity("test", 300 * 160);
        let tenant = Uuid::new_v4();
        let kinds = [
            "session",
            "code_used",
            REFERENCE_ACCESS_TOKEN,
            "revoked_jti",
        ];
        for i in 0..400 {
            let ttl = Duration::from_secs(60 + (i as u64 % 5));
            let kind = kinds[i % kinds.len()];
            cache
                .set(&key(&cache, tenant, kind, i), &[7; 40], ttl)
                .await
                .unwrap();
        }
        assert_consistent(&cache);

        // Act: delete some, take some, replace some with another lifetime and size.
        for i in (0..400).step_by(3) {
            cache
                .delete(&key(&cache, tenant, kinds[i % kinds.len()], i))
                .await
                .unwrap();
        }
        for i in (1..400).step_by(7) {
            cache
                .take(&key(&cache, tenant, kinds[i % kinds.len()], i))
                .await
                .unwrap();
        }
        for i in (2..400).step_by(5) {
            let kind = kinds[i % kinds.len()];
            cache
                .set(&key(&cache, tenant, kind, i), &[1; 90], TTL)
                .await
                .unwrap();
        }
        for i in 0..50 {
            cache
                .incr(&key(&cache, tenant, "login_attempts", i % 7), TTL)
                .await
                .unwrap();
        }

        // Assert
        assert_consistent(&cache);
        assert!(cache.lock().unwrap().used <= 300 * 160);
        assert_eq!(
            cache
                .incr(&key(&cache, tenant, "login_attempts", 0), TTL)
                .await
                .unwrap(),
            9
        );
    }

    #[tokio::test]
    async fn purging_a_tenant_removes_its_entries_only() {
        let cache = MemoryCache::new("test");
        let (gone, stays) = (Uuid::new_v4(), Uuid::new_v4());
        for i in 0..30 {
            for tenant in [gone, stays] {
                cache
                    .set(&key(&cache, tenant, "session", i), b"s", TTL)
                    .await
                    .unwrap();
                cache
                    .set(&key(&cache, tenant, "code_used", i), b"1", TTL)
                    .await
                    .unwrap();
            }
        }
        assert_eq!(cache.purge_tenant(gone).await.unwrap(), 60);
        assert_consistent(&cache);
        assert_eq!(cache.lock().unwrap().entries.len(), 60);
        assert!(holds(&cache, &key(&cache, stays, "session", 3)).await);
        assert!(!holds(&cache, &key(&cache, gone, "session", 3)).await);
        assert_eq!(cache.purge_tenant(Uuid::new_v4()).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_sweep_removes_the_seconds_that_have_passed() {
        let cache = MemoryCache::new("test");
        for i in 0..10 {
            cache
                .set(&format!("short{i}"), b"v", Duration::from_millis(1))
                .await
                .unwrap();
        }
        cache.set("long", b"v", TTL).await.unwrap();
        let later = cache.now() + 2 * NANOS_PER_SEC;
        cache.lock().unwrap().sweep(later);
        assert_consistent(&cache);
        assert_eq!(cache.lock().unwrap().entries.len(), 1);
        assert_eq!(cache.get("long").await.unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let cache = MemoryCache::new("test");
        cache.set("k", b"v", Duration::ZERO).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None);
        assert_eq!(cache.take("k").await.unwrap(), None);
    }
}

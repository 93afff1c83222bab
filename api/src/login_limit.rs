//! In-process flood guard (governor), on each node: token-endpoint requests per
//! tenant and client (`TESSERA_TOKEN_REQUESTS_PER_MINUTE`), which bounds how much work
//! one client id can ask of one node whatever it sends.
//!
//! Guessing budgets are not here: they must hold across nodes, so they are counted
//! in the shared cache — the account lockout and per-address failures of sign-ins in
//! `tenancy::accounts::lockout`, the per-endpoint limits in `tenancy::cache::rate_limit` (applied by
//! [`crate::limits`]).

use std::{num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use uuid::Uuid;

/// A limiter keyed by tenant and a name (a client id).
pub type NamedLimiter = DefaultKeyedRateLimiter<(Uuid, String)>;

/// A fresh per-client token-endpoint limiter allowing `per_minute` requests.
pub fn token_limiter(per_minute: u32) -> NamedLimiter {
    RateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
    ))
}

/// Checks `key` against `limiter`: `None` when allowed, else how long to wait (whole
/// seconds, at least one, for `Retry-After`).
pub fn check<K>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Option<Duration>
where
    K: Clone + std::hash::Hash + Eq,
{
    limiter.check_key(key).err().map(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        Duration::from_secs(wait.as_secs().saturating_add(1))
    })
}

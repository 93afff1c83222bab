//! In-process rate limits (governor), on each node:
//! - login attempts per tenant and client address ([`ATTEMPTS_PER_MINUTE`]);
//! - login attempts per tenant and login name ([`ACCOUNT_ATTEMPTS_PER_MINUTE`]), only
//!   counting attempts that get as far as a password check;
//! - token-endpoint requests per tenant and client (`TESSERA_TOKEN_REQUESTS_PER_MINUTE`).
//!
//! Account lockout across nodes (the tenant's thresholds, counted in the cache) is
//! `tenancy::throttle`.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use uuid::Uuid;

/// Login attempts allowed per tenant, client IP and minute.
pub const ATTEMPTS_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(29);
/// Password checks allowed per tenant, login name and minute.
pub const ACCOUNT_ATTEMPTS_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(19);

/// The limiter, keyed by tenant and client address.
pub type LoginLimiter = DefaultKeyedRateLimiter<(Uuid, IpAddr)>;
/// A limiter keyed by tenant and a name (login name digest, or client id).
pub type NamedLimiter = DefaultKeyedRateLimiter<(Uuid, String)>;

/// A fresh per-address login limiter.
pub fn login_limiter() -> LoginLimiter {
    RateLimiter::keyed(Quota::per_minute(ATTEMPTS_PER_MINUTE))
}

/// A fresh per-account login limiter.
pub fn account_limiter() -> NamedLimiter {
    RateLimiter::keyed(Quota::per_minute(ACCOUNT_ATTEMPTS_PER_MINUTE))
}

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

//! In-process rate limits (governor), on each node:
//! - login attempts per tenant and client address (`TESSERA_LOGIN_ATTEMPTS_PER_MINUTE`,
//!   default 30);
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

/// Password checks allowed per tenant, login name and minute.
pub const ACCOUNT_ATTEMPTS_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(19);

/// The limiter, keyed by tenant and client address.
pub type LoginLimiter = DefaultKeyedRateLimiter<(Uuid, IpAddr)>;
/// A limiter keyed by tenant and a name (login name digest, or client id).
pub type NamedLimiter = DefaultKeyedRateLimiter<(Uuid, String)>;

/// A fresh per-address login limiter allowing `per_minute` attempts.
pub fn login_limiter(per_minute: u32) -> LoginLimiter {
    RateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
    ))
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

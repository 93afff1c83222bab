//! Per-IP throttling of login attempts (in-process, governor): at most
//! [`ATTEMPTS_PER_MINUTE`] per tenant and client address on each node. Account lockout
//! across nodes is `tenancy::throttle`.

use std::{net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

/// Login attempts allowed per tenant, client IP and minute.
pub const ATTEMPTS_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(29);

/// The limiter, keyed by tenant and client address.
pub type LoginLimiter = DefaultKeyedRateLimiter<(Uuid, IpAddr)>;

/// A fresh limiter.
pub fn login_limiter() -> LoginLimiter {
    RateLimiter::keyed(Quota::per_minute(ATTEMPTS_PER_MINUTE))
}

//! Per-tenant rate limits shared by every node: fixed-window counters in the cache.
//!
//! An [`EndpointLimit`] allows `per_address` and `per_target` counted events per
//! `window_secs`. Counters live in the shared cache (`Cache::incr`, atomic on Redis and in-process alike), keyed by tenant,
//! endpoint, dimension (the client address, or the target: login name, client id,
//! token, webhook...), window number and a SHA-256 of the id, so a guessing budget is
//! the same on one node or on ten. The window number comes from the caller's `now`
//! (time is an input), so a test clock moves windows as it moves time.
//!
//! What is counted depends on the endpoint ([`Counts`]):
//! - **failures** where the request is a guess: the login form, second factors and
//!   recovery codes (those keep their own lockout and credential-stuffing budgets,
//!   [`crate::accounts::lockout`]), password reset and email verification links, client
//!   authentication at the token, introspection and revocation endpoints. A client
//!   or user that gets it right is never refused by these, however often it comes;
//!   a refused request is not counted again.
//! - **all requests** where every request costs something whether or not it succeeds:
//!   forgot-password emails (per address and per login name typed), authorization
//!   requests and account pages (each may store a pending interaction), passkey
//!   ceremonies (each stores a challenge), signing-key rotations (RSA key generation)
//!   and webhook test sends (an outbound request).
//!
//! Failure budgets are checked before the work ([`check`]) and spent after it
//! ([`record_failure`]), so parallel requests may overshoot a failure budget by at most
//! the number in flight at once; the account lockout, which must be exact, counts
//! before the check instead ([`crate::accounts::lockout::begin_attempt`]).
//!
//! Client addresses are aggregated before counting ([`address_key`](crate::core::limits::address_key)): an IPv6 client
//! usually holds a whole /64, so each /64 is one address.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use crate::core::limits::{Counts, Endpoint};
use crate::core::{EndpointLimit, RateLimits};
use crate::{Result, cache::Cache, crypto::secrets};

/// The counters one request is judged by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The client address, already aggregated ([`address_key`](crate::core::limits::address_key)); `None` when unknown.
    pub address: Option<String>,
    /// The target (login name, client id, token...), `None` when the request names none.
    pub target: Option<String>,
}

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Refuse; the window ends after `retry_after` (at least a second).
    Limited {
        /// Time until the window that refused this request ends.
        retry_after: Duration,
    },
}

/// One fixed-window counter: its cache key and how long the window has left.
struct Window {
    key: String,
    left: Duration,
    ttl: Duration,
}

fn window(
    cache: &dyn Cache,
    tenant_id: Uuid,
    kind: &str,
    dimension: &str,
    id: &str,
    window_secs: u32,
    now: DateTime<Utc>,
) -> Window {
    let secs = i64::from(window_secs.max(1));
    let number = now.timestamp().div_euclid(secs);
    let left = secs - now.timestamp().rem_euclid(secs);
    let digest = secrets::sha256_hex(id);
    Window {
        key: cache.key(
            tenant_id,
            "rate",
            &format!("{kind}:{dimension}:{number}:{digest}"),
        ),
        left: Duration::from_secs(u64::try_from(left).unwrap_or(1).max(1)),
        ttl: Duration::from_secs(u64::try_from(secs).unwrap_or(1)),
    }
}

fn counters(
    subject: &Subject,
    limit: EndpointLimit,
) -> impl Iterator<Item = (&'static str, &str, u32)> {
    [
        ("address", subject.address.as_deref(), limit.per_address),
        ("target", subject.target.as_deref(), limit.per_target),
    ]
    .into_iter()
    .filter_map(|(dimension, id, max)| id.filter(|_| max > 0).map(|id| (dimension, id, max)))
}

async fn count_of(cache: &dyn Cache, key: &str) -> Result<i64> {
    Ok(cache
        .get(key)
        .await?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0))
}

/// Judges a request to `kind` (an endpoint name) by `subject` under `limit`: for a
/// [`Counts::Requests`] endpoint this counts the request (atomically, so parallel
/// requests cannot slip past); for [`Counts::Failures`] it only reads the counters,
/// and the caller reports a failure with [`record_failure`].
pub async fn check(
    cache: &dyn Cache,
    tenant_id: Uuid,
    kind: &str,
    counts: Counts,
    subject: &Subject,
    limit: EndpointLimit,
    now: DateTime<Utc>,
) -> Result<Verdict> {
    let mut retry_after = None::<Duration>;
    for (dimension, id, max) in counters(subject, limit) {
        let w = window(
            cache,
            tenant_id,
            kind,
            dimension,
            id,
            limit.window_secs,
            now,
        );
        let over = match counts {
            Counts::Requests => cache.incr(&w.key, w.ttl).await? > i64::from(max),
            Counts::Failures => count_of(cache, &w.key).await? >= i64::from(max),
        };
        if over {
            retry_after = Some(retry_after.map_or(w.left, |r| r.max(w.left)));
            if counts == Counts::Requests {
                // A request refused by its address is not counted against its target,
                // so one address cannot spend a client's or an account's budget
                // with requests that were never served.
                break;
            }
        }
    }
    Ok(
        retry_after.map_or(Verdict::Allowed, |retry_after| Verdict::Limited {
            retry_after,
        }),
    )
}

/// Counts a failed request to `kind` against each of `subject`'s counters; returns the
/// address counter's new value (0 when there is none), so a caller can tell the
/// failure that reached a threshold.
pub async fn record_failure(
    cache: &dyn Cache,
    tenant_id: Uuid,
    kind: &str,
    subject: &Subject,
    limit: EndpointLimit,
    now: DateTime<Utc>,
) -> Result<i64> {
    let mut address_count = 0;
    for (dimension, id, _) in counters(subject, limit) {
        let w = window(
            cache,
            tenant_id,
            kind,
            dimension,
            id,
            limit.window_secs,
            now,
        );
        let n = cache.incr(&w.key, w.ttl).await?;
        if dimension == "address" {
            address_count = n;
        }
    }
    Ok(address_count)
}

/// Judges a request to `endpoint` with the tenant's `limits` (see [`check`]).
pub async fn check_endpoint(
    cache: &dyn Cache,
    tenant_id: Uuid,
    endpoint: Endpoint,
    limits: &RateLimits,
    subject: &Subject,
    now: DateTime<Utc>,
) -> Result<Verdict> {
    check(
        cache,
        tenant_id,
        endpoint.name(),
        endpoint.counts(),
        subject,
        endpoint.limit(limits),
        now,
    )
    .await
}

/// Reports a failed request to a [`Counts::Failures`] `endpoint` (a no-op for the
/// others, which counted the request already).
pub async fn endpoint_failed(
    cache: &dyn Cache,
    tenant_id: Uuid,
    endpoint: Endpoint,
    limits: &RateLimits,
    subject: &Subject,
    now: DateTime<Utc>,
) -> Result<()> {
    if endpoint.counts() == Counts::Failures {
        record_failure(
            cache,
            tenant_id,
            endpoint.name(),
            subject,
            endpoint.limit(limits),
            now,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::cache::memory::MemoryCache;
    use crate::core::limits::{address_key, is_allowed, parse_cidr};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    fn subject(address: &str, target: &str) -> Subject {
        Subject {
            address: Some(address.into()),
            target: Some(target.into()),
        }
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64_and_ipv4_as_is() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = address_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(address_key("203.0.113.9".parse().unwrap()), "203.0.113.9");
        assert_eq!(
            address_key("::ffff:203.0.113.9".parse().unwrap()),
            "203.0.113.9"
        );
    }

    #[test]
    fn the_allow_list_matches_addresses_and_blocks() {
        let list = vec![
            "203.0.113.7".to_owned(),
            "198.51.100.0/24".to_owned(),
            "2001:db8::/48".to_owned(),
            "not an address".to_owned(),
        ];
        for ok in [
            "203.0.113.7",
            "198.51.100.200",
            "2001:db8:0:ffff::1",
            "::ffff:198.51.100.1",
        ] {
            assert!(is_allowed(ok.parse().unwrap(), &list), "{ok}");
        }
        for no in ["203.0.113.8", "198.51.101.1", "2001:db9::1"] {
            assert!(!is_allowed(no.parse().unwrap(), &list), "{no}");
        }
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("::/0"), Some(("::".parse().unwrap(), 0)));
        assert!(is_allowed(
            "8.8.8.8".parse().unwrap(),
            &["0.0.0.0/0".into()]
        ));
    }

    #[tokio::test]
    async fn a_request_budget_counts_every_request_and_ends_with_its_window() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let limit = EndpointLimit::new(100, 3, 60);
        let who = subject("203.0.113.1", "ann@example.com");
        for _ in 0..3 {
            let verdict = check(
                &cache,
                tenant,
                "forgot",
                Counts::Requests,
                &who,
                limit,
                now(),
            );
            assert_eq!(verdict.await.unwrap(), Verdict::Allowed);
        }
        let fourth = check(
            &cache,
            tenant,
            "forgot",
            Counts::Requests,
            &who,
            limit,
            now(),
        );
        assert_eq!(
            fourth.await.unwrap(),
            Verdict::Limited {
                retry_after: Duration::from_secs(60)
            }
        );
        let other_target = subject("203.0.113.1", "bob@example.com");
        let verdict = check(
            &cache,
            tenant,
            "forgot",
            Counts::Requests,
            &other_target,
            limit,
            now(),
        );
        assert_eq!(verdict.await.unwrap(), Verdict::Allowed, "per target");
        let later = now() + chrono::Duration::seconds(60);
        let verdict = check(
            &cache,
            tenant,
            "forgot",
            Counts::Requests,
            &who,
            limit,
            later,
        );
        assert_eq!(verdict.await.unwrap(), Verdict::Allowed, "a new window");
        let verdict = check(
            &cache,
            Uuid::new_v4(),
            "forgot",
            Counts::Requests,
            &who,
            limit,
            now(),
        );
        assert_eq!(verdict.await.unwrap(), Verdict::Allowed, "per tenant");
    }

    #[tokio::test]
    async fn a_failure_budget_ignores_successes_and_refuses_after_the_failures() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let limit = EndpointLimit::new(3, 0, 60);
        let who = subject("203.0.113.1", "client");
        for _ in 0..500 {
            let verdict = check(
                &cache,
                tenant,
                "token",
                Counts::Failures,
                &who,
                limit,
                now(),
            );
            assert_eq!(
                verdict.await.unwrap(),
                Verdict::Allowed,
                "successes are free"
            );
        }
        for n in 1..=3 {
            assert_eq!(
                record_failure(&cache, tenant, "token", &who, limit, now())
                    .await
                    .unwrap(),
                n
            );
        }
        let at = now() + chrono::Duration::seconds(45);
        let verdict = check(&cache, tenant, "token", Counts::Failures, &who, limit, at);
        assert_eq!(
            verdict.await.unwrap(),
            Verdict::Limited {
                retry_after: Duration::from_secs(15)
            }
        );
        let elsewhere = subject("203.0.113.2", "client");
        let verdict = check(
            &cache,
            tenant,
            "token",
            Counts::Failures,
            &elsewhere,
            limit,
            at,
        );
        assert_eq!(
            verdict.await.unwrap(),
            Verdict::Allowed,
            "per address; the target limit is off"
        );
    }
}

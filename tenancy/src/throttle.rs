//! Account lockout against password guessing, shared by every node through the cache.
//!
//! Attempts are counted per tenant and login name (whatever was typed, so the count
//! reveals nothing about whether the account exists).
//!
//! The login page uses the tenant's [`Policy`]: [`begin_attempt`] counts an attempt
//! *before* the password is checked, with one atomic cache increment, so however many
//! requests race in parallel at most `threshold` of them get a password verified; the
//! rest are refused unverified. The attempt that reaches the threshold and fails
//! locks the name ([`attempt_failed`] returns true exactly once, so exactly one
//! "account locked" alert is raised). Lockouts are temporary — they end after the
//! policy's duration, judged on the server clock — and a password reset clears them
//! ([`clear`]), so an attacker cannot lock an owner out for good. From the fourth
//! attempt on, each attempt also waits a little longer ([`progressive_delay`]).
//!
//! Second-factor codes and re-authentication count against the same budget through
//! [`is_locked`] and [`record_failure`]. Per-address and per-account rate limits live in the HTTP layer (governor,
//! in-process).

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Result, cache::Cache, secrets, tenants::TenantSettings};

/// Whether `login` is locked out at `now` (for secrets checked outside the login
/// page: second-factor codes, re-authentication on the account page).
pub async fn is_locked(
    cache: &dyn Cache,
    tenant_id: Uuid,
    login: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(locked_for(cache, tenant_id, login, now).await?.is_some())
}

/// Counts a failed second-factor code or re-authentication against the same budget
/// as passwords; returns true when this failure locks the name (exactly once).
pub async fn record_failure(
    cache: &dyn Cache,
    tenant_id: Uuid,
    login: &str,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<bool> {
    let number = cache
        .incr(
            &scoped_key(cache, ATTEMPTS_KIND, tenant_id, login),
            policy.window,
        )
        .await?;
    attempt_failed(cache, tenant_id, login, number, policy, now).await
}

const ATTEMPTS_KIND: &str = "login_attempts";
const LOCK_KIND: &str = "login_lock";
/// Attempts within the window that are answered without delay.
pub const FREE_ATTEMPTS: i64 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest progressive delay.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// A tenant's lockout thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Attempts per window before the name locks.
    pub threshold: i64,
    /// How long attempts are counted.
    pub window: Duration,
    /// How long a lockout lasts.
    pub lockout: Duration,
}

impl Policy {
    /// The policy in a tenant's settings.
    pub fn from_settings(settings: &TenantSettings) -> Self {
        Self {
            threshold: i64::from(settings.lockout_threshold.max(1)),
            window: Duration::from_secs(u64::from(settings.lockout_window_secs)),
            lockout: Duration::from_secs(u64::from(settings.lockout_duration_secs)),
        }
    }
}

/// Whether a login attempt may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Check the password, after waiting `delay`; `number` is this attempt's place in
    /// the window (pass it to [`attempt_failed`]).
    Allowed {
        /// This attempt's number within the window, from 1.
        number: i64,
        /// How long to wait before answering (progressive delay).
        delay: Duration,
    },
    /// Refuse without checking the password; the lockout ends after `retry_after`.
    Locked {
        /// Time left until the lockout ends (at least a second).
        retry_after: Duration,
    },
}

fn scoped_key(cache: &dyn Cache, kind: &str, tenant_id: Uuid, login: &str) -> String {
    cache.key(
        tenant_id,
        kind,
        &secrets::sha256_hex(&login.trim().to_lowercase()),
    )
}

/// How long `login` stays locked, if it is locked at `now`.
pub async fn locked_for(
    cache: &dyn Cache,
    tenant_id: Uuid,
    login: &str,
    now: DateTime<Utc>,
) -> Result<Option<Duration>> {
    let until = cache
        .get(&scoped_key(cache, LOCK_KIND, tenant_id, login))
        .await?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok());
    Ok(until
        .map(|until| until - now.timestamp())
        .filter(|left| *left > 0)
        .map(|left| Duration::from_secs(u64::try_from(left).unwrap_or(1).max(1))))
}

/// Counts an attempt on `login` before its password is checked (atomically, so
/// parallel requests cannot slip past the threshold), or refuses it when the name is
/// locked or the window's attempts are used up.
pub async fn begin_attempt(
    cache: &dyn Cache,
    tenant_id: Uuid,
    login: &str,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<Attempt> {
    if let Some(retry_after) = locked_for(cache, tenant_id, login, now).await? {
        return Ok(Attempt::Locked { retry_after });
    }
    let number = cache
        .incr(
            &scoped_key(cache, ATTEMPTS_KIND, tenant_id, login),
            policy.window,
        )
        .await?;
    if number > policy.threshold {
        return Ok(Attempt::Locked {
            retry_after: policy.lockout.max(Duration::from_secs(1)),
        });
    }
    Ok(Attempt::Allowed {
        number,
        delay: progressive_delay(number),
    })
}

/// The wait imposed on attempt `number` of a window: none for the first
/// [`FREE_ATTEMPTS`], then 100 ms doubling per attempt, at most [`MAX_DELAY`].
pub fn progressive_delay(number: i64) -> Duration {
    let over = number.saturating_sub(FREE_ATTEMPTS);
    if over <= 0 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(over.saturating_sub(1).min(16)).unwrap_or(16);
    FIRST_DELAY
        .saturating_mul(1_u32 << doublings)
        .min(MAX_DELAY)
}

/// Records that attempt `number` failed; returns true when it locks the name (exactly
/// one attempt per lockout does). The lockout ends `policy.lockout` after `now`.
pub async fn attempt_failed(
    cache: &dyn Cache,
    tenant_id: Uuid,
    login: &str,
    number: i64,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<bool> {
    if number != policy.threshold {
        return Ok(false);
    }
    let lockout_secs = i64::try_from(policy.lockout.as_secs()).unwrap_or(i64::MAX);
    let until = now.timestamp().saturating_add(lockout_secs);
    cache
        .set(
            &scoped_key(cache, LOCK_KIND, tenant_id, login),
            until.to_string().as_bytes(),
            policy.lockout,
        )
        .await?;
    // A fresh count once the lockout ends.
    cache
        .delete(&scoped_key(cache, ATTEMPTS_KIND, tenant_id, login))
        .await?;
    Ok(true)
}

/// Forgets `login`'s attempts after a successful login.
pub async fn attempt_succeeded(cache: &dyn Cache, tenant_id: Uuid, login: &str) -> Result<()> {
    cache
        .delete(&scoped_key(cache, ATTEMPTS_KIND, tenant_id, login))
        .await
        .map(|_| ())
}

/// Ends any lockout of `login` and forgets its attempts (after a password reset).
pub async fn clear(cache: &dyn Cache, tenant_id: Uuid, login: &str) -> Result<()> {
    cache
        .delete(&scoped_key(cache, LOCK_KIND, tenant_id, login))
        .await?;
    attempt_succeeded(cache, tenant_id, login).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::cache::memory::MemoryCache;

    fn policy() -> Policy {
        Policy {
            threshold: 5,
            window: Duration::from_secs(900),
            lockout: Duration::from_secs(600),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn parallel_attempts_never_get_more_password_checks_than_the_threshold() {
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new("t"));
        let tenant = Uuid::new_v4();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    begin_attempt(cache.as_ref(), tenant, "ann", policy(), now())
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut allowed = Vec::new();
        for task in tasks {
            if let Attempt::Allowed { number, .. } = task.await.unwrap() {
                allowed.push(number);
            }
        }
        allowed.sort_unstable();
        assert_eq!(allowed, vec![1, 2, 3, 4, 5]);
        let mut locks = 0;
        for number in allowed {
            if attempt_failed(cache.as_ref(), tenant, "ann", number, policy(), now())
                .await
                .unwrap()
            {
                locks += 1;
            }
        }
        assert_eq!(locks, 1, "exactly one failure locks the name");
    }

    #[tokio::test]
    async fn a_lockout_ends_on_the_server_clock_and_a_reset_clears_it() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        for n in 1..=5 {
            let Attempt::Allowed { number, .. } =
                begin_attempt(&cache, tenant, "Ann", policy(), now())
                    .await
                    .unwrap()
            else {
                panic!("attempt {n} refused");
            };
            attempt_failed(&cache, tenant, "ann", number, policy(), now())
                .await
                .unwrap();
        }
        assert!(matches!(
            begin_attempt(&cache, tenant, "ann", policy(), now()).await.unwrap(),
            Attempt::Locked { retry_after } if retry_after == Duration::from_secs(600)
        ));
        let later = now() + chrono::Duration::seconds(601);
        assert!(matches!(
            begin_attempt(&cache, tenant, "ann", policy(), later)
                .await
                .unwrap(),
            Attempt::Allowed { number: 1, .. }
        ));
        for number in 2..=5 {
            begin_attempt(&cache, tenant, "ann", policy(), later)
                .await
                .unwrap();
            attempt_failed(&cache, tenant, "ann", number, policy(), later)
                .await
                .unwrap();
        }
        assert!(
            locked_for(&cache, tenant, "ann", later)
                .await
                .unwrap()
                .is_some()
        );
        clear(&cache, tenant, "ANN").await.unwrap();
        assert!(
            locked_for(&cache, tenant, "ann", later)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_delay_grows_after_three_attempts_and_is_capped() {
        assert_eq!(progressive_delay(3), Duration::ZERO);
        assert_eq!(progressive_delay(4), Duration::from_millis(100));
        assert_eq!(progressive_delay(5), Duration::from_millis(200));
        assert_eq!(progressive_delay(8), Duration::from_millis(1600));
        assert_eq!(progressive_delay(9), MAX_DELAY);
        assert_eq!(progressive_delay(1000), MAX_DELAY);
    }

    #[tokio::test]
    async fn second_factor_failures_share_the_password_budget_and_a_reset_clears_them() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let policy = Policy::from_settings(&TenantSettings::default());
        let now = chrono::DateTime::UNIX_EPOCH;
        for i in 1..policy.threshold {
            assert!(
                !record_failure(&cache, tenant, "Ann", policy, now)
                    .await
                    .unwrap(),
                "{i}"
            );
        }
        assert!(!is_locked(&cache, tenant, "ann", now).await.unwrap());
        assert!(
            record_failure(&cache, tenant, " ANN ", policy, now)
                .await
                .unwrap(),
            "the threshold locks"
        );
        assert!(is_locked(&cache, tenant, "ann", now).await.unwrap());
        assert!(
            matches!(
                begin_attempt(&cache, tenant, "ann", policy, now)
                    .await
                    .unwrap(),
                Attempt::Locked { .. }
            ),
            "the password step is locked too"
        );
        assert!(
            !is_locked(&cache, Uuid::new_v4(), "ann", now).await.unwrap(),
            "per tenant"
        );
        clear(&cache, tenant, "ann").await.unwrap();
        assert!(!is_locked(&cache, tenant, "ann", now).await.unwrap());
    }
}

//! Brute-force protection against password guessing, shared by every node through
//! the cache. Only failures count: a user who signs in successfully is never refused,
//! however often, from however busy an address.
//!
//! **Account lockout.** Attempts are counted per tenant on the account a login name
//! resolves to, so a username and its email address share one budget, and on the name
//! as typed when it resolves to none, so an unknown name locks just like a known one
//! and the count reveals nothing about whether an account exists ([`Subjects`]); a
//! lockout is written on the names and the account alike. The login page uses the tenant's [`Policy`]: [`begin_attempt`]
//! counts an attempt *before* the password is checked, with one atomic cache increment
//! of one counter (the account's when the name resolves, else the typed name's), so
//! however many requests race in parallel exactly `threshold` of them get a password
//! verified; the rest are refused unverified. The attempt that reaches
//! the threshold and fails locks the name and the account ([`attempt_failed`] returns
//! true exactly once, so exactly one "account locked" alert is raised); a successful
//! sign-in forgets the attempts ([`attempt_succeeded`]). Lockouts are temporary — they
//! end after the policy's duration, judged on the server clock — and a password reset
//! clears them ([`clear`]), so an attacker cannot lock an owner out for good. From the
//! fourth attempt on, each attempt also waits a little longer ([`progressive_delay`]).
//! Second-factor codes, recovery codes and re-authentication count against the same
//! budget through [`is_locked`] and [`record_failure`].
//!
//! **Credential stuffing.** Failed passwords, second factors and recovery codes are
//! also counted per tenant and client address across all accounts
//! ([`address_failed`], IPv6 by /64, see [`crate::core::limits::address_key`]); once an
//! address reaches the tenant's `address_failure_threshold` within
//! `address_failure_window_secs` it is refused until the window ends
//! ([`address_throttled`]). The failure that reaches the threshold is reported once per
//! address and window, for the `brute_force.detected` alert. Addresses in the tenant's
//! `throttle_allow_list` are never counted nor throttled.

use std::{net::IpAddr, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::core::limits;
use crate::{
    Result,
    cache::Cache,
    cache::rate_limit::{self, Counts, Subject, Verdict},
    core::EndpointLimit,
    core::TenantSettings,
    crypto::secrets,
};

/// Whose lockout budget an attempt spends: the login names typed and the account
/// they resolve to. A lockout of any of them refuses the attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subjects<'a> {
    names: Vec<&'a str>,
    account: Option<Uuid>,
}

impl<'a> Subjects<'a> {
    /// A login form's name as typed, and the account it resolved to (if any).
    pub fn typed(name: &'a str, account: Option<Uuid>) -> Self {
        Self {
            names: vec![name],
            account,
        }
    }

    /// A known user: the account, its username and its email address.
    pub fn user(user: &'a entity::users::Model) -> Self {
        let mut names = vec![user.username.as_str()];
        names.extend(user.email.as_deref());
        Self {
            names,
            account: Some(user.id),
        }
    }

    fn keys(&self, cache: &dyn Cache, tenant_id: Uuid, kind: Kind) -> Vec<String> {
        let (name_kind, account_kind) = match kind {
            Kind::Attempts => (ATTEMPTS_KIND, ACCOUNT_ATTEMPTS_KIND),
            Kind::Lock => (LOCK_KIND, ACCOUNT_LOCK_KIND),
        };
        self.names
            .iter()
            .map(|name| {
                cache.key(
                    tenant_id,
                    name_kind,
                    &secrets::sha256_hex(&name.trim().to_lowercase()),
                )
            })
            .chain(
                self.account
                    .map(|id| cache.key(tenant_id, account_kind, &id.to_string())),
            )
            .collect()
    }
}

impl Subjects<'_> {
    /// The one counter an attempt spends: the account's when known (so a username
    /// and its email address share one budget), else the first name's as typed (so an
    /// unknown name locks just like a known one and reveals nothing).
    fn attempt_counter(&self, cache: &dyn Cache, tenant_id: Uuid) -> Option<String> {
        match (self.account, self.names.first()) {
            (Some(id), _) => Some(cache.key(tenant_id, ACCOUNT_ATTEMPTS_KIND, &id.to_string())),
            (None, Some(name)) => Some(cache.key(
                tenant_id,
                ATTEMPTS_KIND,
                &secrets::sha256_hex(&name.trim().to_lowercase()),
            )),
            (None, None) => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Attempts,
    Lock,
}

/// Whether any of `subjects` is locked out at `now` (for secrets checked outside the
/// login page: second-factor codes, re-authentication on the account page).
pub async fn is_locked(
    cache: &dyn Cache,
    tenant_id: Uuid,
    subjects: &Subjects<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(locked_for(cache, tenant_id, subjects, now).await?.is_some())
}

/// Counts a failed second-factor code, recovery code or re-authentication against
/// the same budget as passwords; returns true when this failure locks (exactly once).
pub async fn record_failure(
    cache: &dyn Cache,
    tenant_id: Uuid,
    subjects: &Subjects<'_>,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<bool> {
    let number = count_attempt(cache, tenant_id, subjects, policy).await?;
    attempt_failed(cache, tenant_id, subjects, number, policy, now).await
}

const ATTEMPTS_KIND: &str = "login_attempts";
const LOCK_KIND: &str = "login_lock";
const ACCOUNT_ATTEMPTS_KIND: &str = "account_attempts";
const ACCOUNT_LOCK_KIND: &str = "account_lock";
/// The counter name of failed sign-in steps per client address (credential stuffing).
const ADDRESS_KIND: &str = "login_failures";
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

/// How long any of `subjects` stays locked, if one is locked at `now`.
pub async fn locked_for(
    cache: &dyn Cache,
    tenant_id: Uuid,
    subjects: &Subjects<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Duration>> {
    let mut longest = None::<Duration>;
    for key in subjects.keys(cache, tenant_id, Kind::Lock) {
        let until = cache
            .get(&key)
            .await?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok());
        let left = until
            .map(|until| until - now.timestamp())
            .filter(|left| *left > 0)
            .map(|left| Duration::from_secs(u64::try_from(left).unwrap_or(1).max(1)));
        if let Some(left) = left {
            longest = Some(longest.map_or(left, |l| l.max(left)));
        }
    }
    Ok(longest)
}

/// Counts one attempt of `subjects` and returns its number within the window.
///
/// Exactly one counter is incremented — the account's when the name resolved to one,
/// else the typed name's — so the numbers handed out to racing requests are 1, 2, 3…
/// without gaps or repeats: at most `threshold` of them are admitted and exactly one
/// is the threshold (the one that locks). Counting on two keys and taking the higher
/// number would let two interleaved requests draw the same number.
async fn count_attempt(
    cache: &dyn Cache,
    tenant_id: Uuid,
    subjects: &Subjects<'_>,
    policy: Policy,
) -> Result<i64> {
    match subjects.attempt_counter(cache, tenant_id) {
        Some(key) => cache.incr(&key, policy.window).await,
        None => Ok(0),
    }
}

/// Counts an attempt on `subjects` before its password is checked (atomically, so
/// parallel requests cannot slip past the threshold), or refuses it when one of them
/// is locked or the window's attempts are used up.
pub async fn begin_attempt(
    cache: &dyn Cache,
    tenant_id: Uuid,
    subjects: &Subjects<'_>,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<Attempt> {
    if let Some(retry_after) = locked_for(cache, tenant_id, subjects, now).await? {
        return Ok(Attempt::Locked { retry_after });
    }
    let number = count_attempt(cache, tenant_id, subjects, policy).await?;
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

/// Records that attempt `number` failed; returns true when it locks `subjects`
/// (exactly one attempt per lockout does). The lockout ends `policy.lockout` after
/// `now`.
pub async fn attempt_failed(
    cache: &dyn Cache,
    tenant_id: Uuid,
    subjects: &Subjects<'_>,
    number: i64,
    policy: Policy,
    now: DateTime<Utc>,
) -> Result<bool> {
    if number != policy.threshold {
        return Ok(false);
    }
    let lockout_secs = i64::try_from(policy.lockout.as_secs()).unwrap_or(i64::MAX);
    let until = now.timestamp().saturating_add(lockout_secs);
    for key in subjects.keys(cache, tenant_id, Kind::Lock) {
        cache
            .set(&key, until.to_string().as_bytes(), policy.lockout)
            .await?;
    }
    // A fresh count once the lockout ends.
    attempt_succeeded(cache, tenant_id, subjects).await?;
    Ok(true)
}

/// Forgets the attempts of `subjects` after a successful login.
pub async fn attempt_succeeded(
    cache: &dyn Cache,
    tenant_id: Uuid,
    subjects: &Subjects<'_>,
) -> Result<()> {
    for key in subjects.keys(cache, tenant_id, Kind::Attempts) {
        cache.delete(&key).await?;
    }
    Ok(())
}

/// Ends any lockout of `subjects` and forgets their attempts (after a password reset).
pub async fn clear(cache: &dyn Cache, tenant_id: Uuid, subjects: &Subjects<'_>) -> Result<()> {
    for key in subjects.keys(cache, tenant_id, Kind::Lock) {
        cache.delete(&key).await?;
    }
    attempt_succeeded(cache, tenant_id, subjects).await
}

fn address_limit(settings: &TenantSettings) -> EndpointLimit {
    EndpointLimit::new(
        settings.address_failure_threshold,
        0,
        settings.address_failure_window_secs,
    )
}

fn address_subject(ip: IpAddr) -> Subject {
    Subject {
        address: Some(limits::address_key(ip)),
        target: None,
    }
}

/// How long `ip` stays refused for too many failed sign-in steps across accounts, if
/// it is at `now`; never for an allow-listed address.
pub async fn address_throttled(
    cache: &dyn Cache,
    tenant_id: Uuid,
    ip: IpAddr,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Result<Option<Duration>> {
    if limits::is_allowed(ip, &settings.throttle_allow_list) {
        return Ok(None);
    }
    let verdict = rate_limit::check(
        cache,
        tenant_id,
        ADDRESS_KIND,
        Counts::Failures,
        &address_subject(ip),
        address_limit(settings),
        now,
    )
    .await?;
    Ok(match verdict {
        Verdict::Allowed => None,
        Verdict::Limited { retry_after } => Some(retry_after),
    })
}

/// Counts a failed password, second factor or recovery code from `ip`; returns true
/// for the failure that reaches the tenant's threshold (once per address and window:
/// raise `brute_force.detected` then). Allow-listed addresses are not counted.
pub async fn address_failed(
    cache: &dyn Cache,
    tenant_id: Uuid,
    ip: IpAddr,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Result<bool> {
    if settings.address_failure_threshold == 0
        || limits::is_allowed(ip, &settings.throttle_allow_list)
    {
        return Ok(false);
    }
    let count = rate_limit::record_failure(
        cache,
        tenant_id,
        ADDRESS_KIND,
        &address_subject(ip),
        address_limit(settings),
        now,
    )
    .await?;
    Ok(count == i64::from(settings.address_failure_threshold))
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
                    begin_attempt(
                        cache.as_ref(),
                        tenant,
                        &Subjects::typed("ann", None),
                        policy(),
                        now(),
                    )
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
            if attempt_failed(
                cache.as_ref(),
                tenant,
                &Subjects::typed("ann", None),
                number,
                policy(),
                now(),
            )
            .await
            .unwrap()
            {
                locks += 1;
            }
        }
        assert_eq!(locks, 1, "exactly one failure locks the name");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_attempts_on_a_known_account_draw_distinct_numbers() {
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new("t"));
        let tenant = Uuid::new_v4();
        let account = Some(Uuid::new_v4());
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    let name = if i % 2 == 0 { "ann" } else { "ann@example.com" };
                    begin_attempt(
                        cache.as_ref(),
                        tenant,
                        &Subjects::typed(name, account),
                        policy(),
                        now(),
                    )
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
    }

    #[tokio::test]
    async fn a_lockout_ends_on_the_server_clock_and_a_reset_clears_it() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        for n in 1..=5 {
            let Attempt::Allowed { number, .. } = begin_attempt(
                &cache,
                tenant,
                &Subjects::typed("Ann", None),
                policy(),
                now(),
            )
            .await
            .unwrap() else {
                panic!("attempt {n} refused");
            };
            attempt_failed(
                &cache,
                tenant,
                &Subjects::typed("ann", None),
                number,
                policy(),
                now(),
            )
            .await
            .unwrap();
        }
        assert!(matches!(
            begin_attempt(&cache, tenant, &Subjects::typed("ann", None), policy(), now()).await.unwrap(),
            Attempt::Locked { retry_after } if retry_after == Duration::from_secs(600)
        ));
        let later = now() + chrono::Duration::seconds(601);
        assert!(matches!(
            begin_attempt(
                &cache,
                tenant,
                &Subjects::typed("ann", None),
                policy(),
                later
            )
            .await
            .unwrap(),
            Attempt::Allowed { number: 1, .. }
        ));
        for number in 2..=5 {
            begin_attempt(
                &cache,
                tenant,
                &Subjects::typed("ann", None),
                policy(),
                later,
            )
            .await
            .unwrap();
            attempt_failed(
                &cache,
                tenant,
                &Subjects::typed("ann", None),
                number,
                policy(),
                later,
            )
            .await
            .unwrap();
        }
        assert!(
            locked_for(&cache, tenant, &Subjects::typed("ann", None), later)
                .await
                .unwrap()
                .is_some()
        );
        clear(&cache, tenant, &Subjects::typed("ANN", None))
            .await
            .unwrap();
        assert!(
            locked_for(&cache, tenant, &Subjects::typed("ann", None), later)
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
                !record_failure(&cache, tenant, &Subjects::typed("Ann", None), policy, now)
                    .await
                    .unwrap(),
                "{i}"
            );
        }
        assert!(
            !is_locked(&cache, tenant, &Subjects::typed("ann", None), now)
                .await
                .unwrap()
        );
        assert!(
            record_failure(&cache, tenant, &Subjects::typed(" ANN ", None), policy, now)
                .await
                .unwrap(),
            "the threshold locks"
        );
        assert!(
            is_locked(&cache, tenant, &Subjects::typed("ann", None), now)
                .await
                .unwrap()
        );
        assert!(
            matches!(
                begin_attempt(&cache, tenant, &Subjects::typed("ann", None), policy, now)
                    .await
                    .unwrap(),
                Attempt::Locked { .. }
            ),
            "the password step is locked too"
        );
        assert!(
            !is_locked(&cache, Uuid::new_v4(), &Subjects::typed("ann", None), now)
                .await
                .unwrap(),
            "per tenant"
        );
        clear(&cache, tenant, &Subjects::typed("ann", None))
            .await
            .unwrap();
        assert!(
            !is_locked(&cache, tenant, &Subjects::typed("ann", None), now)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_username_and_its_email_share_the_account_budget() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let account = Uuid::new_v4();
        let by_name = Subjects::typed("ann", Some(account));
        let by_email = Subjects::typed("ann@example.com", Some(account));
        let mut locks = 0;
        for n in 1..=5 {
            let subjects = if n % 2 == 0 { &by_name } else { &by_email };
            let Attempt::Allowed { number, .. } =
                begin_attempt(&cache, tenant, subjects, policy(), now())
                    .await
                    .unwrap()
            else {
                panic!("attempt {n} refused");
            };
            assert_eq!(number, n, "one budget for both names");
            if attempt_failed(&cache, tenant, subjects, number, policy(), now())
                .await
                .unwrap()
            {
                locks += 1;
            }
        }
        assert_eq!(locks, 1);
        for subjects in [&by_name, &by_email] {
            assert!(is_locked(&cache, tenant, subjects, now()).await.unwrap());
        }
        assert!(
            !is_locked(&cache, tenant, &Subjects::typed("ann", None), now())
                .await
                .unwrap(),
            "the lock is on the account (and the name that reached it)"
        );
    }

    #[tokio::test]
    async fn failures_from_one_address_across_accounts_throttle_it_unless_allow_listed() {
        let cache = MemoryCache::new("t");
        let tenant = Uuid::new_v4();
        let mut settings = TenantSettings {
            address_failure_threshold: 3,
            address_failure_window_secs: 600,
            ..TenantSettings::default()
        };
        let ip: IpAddr = "2001:db8:7:7::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8:7:7:ffff::2".parse().unwrap();
        let mut reached = Vec::new();
        for _ in 0..3 {
            assert_eq!(
                address_throttled(&cache, tenant, ip, &settings, now())
                    .await
                    .unwrap(),
                None
            );
            reached.push(
                address_failed(&cache, tenant, neighbour, &settings, now())
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(reached, vec![false, false, true], "reported exactly once");
        assert_eq!(
            address_throttled(&cache, tenant, ip, &settings, now())
                .await
                .unwrap(),
            Some(Duration::from_secs(600)),
            "the same /64"
        );
        assert!(
            !address_failed(&cache, tenant, ip, &settings, now())
                .await
                .unwrap(),
            "not reported twice in a window"
        );
        settings.throttle_allow_list = vec!["2001:db8:7::/48".into()];
        assert_eq!(
            address_throttled(&cache, tenant, ip, &settings, now())
                .await
                .unwrap(),
            None
        );
    }
}

//! Password login: [`attempt`] is the one door of the login form, owning the whole
//! sequence (address throttle, lockout, Argon2id check, failure record, second-factor
//! decision). Unknown user, disabled user, user without a password and wrong password
//! all get the same answer after the same Argon2id work, so neither the answer nor its
//! timing tells whether an account exists.

use std::{net::IpAddr, sync::OnceLock, time::Duration};

use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Result,
    accounts::{lockout, mfa},
    cache::Cache,
    core::{TenantCtx, amr},
    crypto::secrets,
    journal::{
        alerts::{self, kinds},
        audit::{self, Actor, Event},
    },
    runtime::Workers,
    tenants::issuer::Issuer,
};

/// A password sign-in as the login form submits it.
#[derive(Clone, Copy, Debug)]
pub struct PasswordLogin<'a> {
    /// Username or email address, as typed.
    pub username: &'a str,
    /// The password, as typed.
    pub password: &'a str,
    /// The client the sign-in is for (recorded with a failure).
    pub client_id: &'a str,
    /// The client's address, when known: its credential-stuffing budget is spent too.
    pub ip: Option<IpAddr>,
    /// Whether the authorization request demands a second factor (`acr_values`).
    pub mfa_requested: bool,
}

/// What a password sign-in came to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Refused without checking the password: the address or the name is throttled
    /// for `retry_after`.
    Throttled {
        /// Time left until another attempt may be made (at least a second).
        retry_after: Duration,
    },
    /// Wrong name or password, or a disabled account: counted and recorded, the same
    /// answer whatever the reason.
    Refused,
    /// The password is right and a second factor is due. The failure count is kept
    /// until the whole sign-in completes, so going through the password again cannot
    /// reset the second factor's attempts.
    SecondFactorDue(users::Model),
    /// Signed in with the password alone; the attempts are forgotten. Complete it
    /// with `oauth::sign_in::finish`.
    SignedIn(users::Model),
}

/// Runs one password sign-in at `issuer` from `actor`.
///
/// Only failures count, so a user who gets it right is never refused for being
/// busy; an address with too many failures across accounts is (credential
/// stuffing). The attempt is counted before the password is checked, so parallel
/// guesses cannot overshoot the lockout threshold ([`lockout::begin_attempt`]); from
/// the fourth attempt on it waits the progressive delay first.
pub async fn attempt<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    workers: &Workers,
    cache: &dyn Cache,
    issuer: &Issuer,
    actor: &Actor,
    login: PasswordLogin<'_>,
    now: DateTime<Utc>,
) -> Result<LoginOutcome> {
    let tenant = TenantCtx::from(issuer.tenant());
    let settings = issuer.settings();
    let policy = lockout::Policy::from_settings(settings);
    if let Some(ip) = login.ip
        && let Some(retry_after) =
            lockout::address_throttled(cache, tenant.id, ip, settings, now).await?
    {
        return Ok(LoginOutcome::Throttled { retry_after });
    }
    // A locked name is refused before its account is even looked up.
    let typed = lockout::Subjects::typed(login.username, None);
    if let Some(retry_after) = lockout::locked_for(cache, tenant.id, &typed, now).await? {
        return Ok(LoginOutcome::Throttled { retry_after });
    }
    // The lockout is keyed on the account too, so a username and its email address
    // share one budget.
    let found = crate::accounts::users::find_by_login(db, &tenant, login.username).await?;
    let subjects = lockout::Subjects::typed(login.username, found.as_ref().map(|u| u.id));
    let number = match lockout::begin_attempt(cache, tenant.id, &subjects, policy, now).await? {
        lockout::Attempt::Allowed { number, delay } => {
            tokio::time::sleep(delay).await;
            number
        }
        lockout::Attempt::Locked { retry_after } => {
            return Ok(LoginOutcome::Throttled { retry_after });
        }
    };
    let Some(user) = check_password(workers, found, login.password).await? else {
        let locked = lockout::attempt_failed(cache, tenant.id, &subjects, number, policy, now)
            .await?
            .then_some(policy.lockout);
        record_failure(db, actor, &tenant, login.client_id, locked, now).await?;
        if let Some(ip) = login.ip
            && lockout::address_failed(cache, tenant.id, ip, settings, now).await?
        {
            record_throttled_address(db, actor, &tenant, ip, now).await?;
        }
        return Ok(LoginOutcome::Refused);
    };
    let factors = mfa::factors(db, &tenant, user.id).await?;
    if mfa::second_factor_due(settings.mfa_policy, factors.any(), login.mfa_requested) {
        return Ok(LoginOutcome::SecondFactorDue(user));
    }
    lockout::attempt_succeeded(cache, tenant.id, &subjects).await?;
    Ok(LoginOutcome::SignedIn(user))
}

/// Whom a passkey sign-in is for.
#[derive(Clone, Copy, Debug)]
pub enum PasskeyPurpose<'a> {
    /// Signing in with the passkey alone (it is multi-factor by itself).
    SignIn,
    /// The second factor of the user part-way signed in with `amr` (if anyone is).
    SecondFactor(Option<(Uuid, &'a [String])>),
}

/// Verifies the passkey assertion `credential` of the ceremony started in session
/// `sid` at `issuer`, for `purpose`: the user and the methods the sign-in then has, to
/// complete with `oauth::sign_in::finish`. `None` (audited as a failed
/// `user.passkey_login`) when the assertion does not verify or is another user's;
/// `None` without a record when the account is gone or disabled.
#[expect(clippy::too_many_arguments, reason = "a sign-in's whole context")]
pub async fn passkey(
    db: &impl ConnectionTrait,
    cache: &dyn Cache,
    rp: &webauthn_rs::Webauthn,
    issuer: &Issuer,
    actor: &Actor,
    sid: &str,
    credential: &webauthn_rs::prelude::PublicKeyCredential,
    purpose: PasskeyPurpose<'_>,
    now: DateTime<Utc>,
) -> Result<Option<(users::Model, Vec<String>)>> {
    let tenant = TenantCtx::from(issuer.tenant());
    let verified =
        mfa::passkeys::finish_authentication(db, cache, rp, &tenant, sid, credential, now).await?;
    let signed_in = match (verified, purpose) {
        (Some(v), PasskeyPurpose::SecondFactor(Some((user, amr)))) if v.user_id == user => {
            Some((user, amr::add_methods(amr, &[v.amr], false)))
        }
        (Some(v), PasskeyPurpose::SignIn) => {
            Some((v.user_id, amr::add_methods(&[], &[v.amr], true)))
        }
        _ => None,
    };
    let Some((user_id, amr)) = signed_in else {
        let failed = Event {
            tenant_id: Some(tenant.id),
            action: "user.passkey_login",
            target: None,
            outcome: "failure",
            details: json!({ "second_factor": matches!(purpose, PasskeyPurpose::SecondFactor(_)) }),
        };
        audit::record(db, actor, failed, now).await?;
        return Ok(None);
    };
    match crate::accounts::users::get(db, &tenant, user_id).await {
        Ok(user) if user.enabled => Ok(Some((user, amr))),
        Ok(_) | Err(crate::Error::NotFound(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

/// A valid Argon2id hash of a random value, verified against when there is no real
/// hash to check, so a miss costs what a hit costs.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        use argon2::{Argon2, password_hash::PasswordHasher};
        let random = secrets::random_token("").unwrap_or_default();
        Argon2::default()
            .hash_password(random.as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// The user `login` (username or email, case-insensitive) if `password` is right and
/// the account is enabled; `None` otherwise, whatever the reason.
pub async fn verify(
    db: &impl ConnectionTrait,
    workers: &Workers,
    tenant: &TenantCtx,
    login: &str,
    password: &str,
) -> Result<Option<users::Model>> {
    let user = crate::accounts::users::find_by_login(db, tenant, login).await?;
    check_password(workers, user, password).await
}

/// `user` (already looked up by its login name, so the lockout can be keyed on the
/// account) if `password` is right and the account is enabled; `None` otherwise, after
/// the same Argon2id work whatever the reason. [`crate::Error::Busy`] when the Argon2id
/// queue is full.
async fn check_password(
    workers: &Workers,
    user: Option<users::Model>,
    password: &str,
) -> Result<Option<users::Model>> {
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let password_ok = secrets::verify_password(workers, password.to_owned(), hash).await?;
    Ok(user.filter(|u| password_ok && u.enabled && u.password_hash.is_some()))
}

/// Records a failed login (and, when it locked the name, the lockout and its
/// `account.locked` alert) in one transaction.
async fn record_failure<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: &Actor,
    tenant: &TenantCtx,
    client_id: &str,
    locked_for: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<()> {
    use sea_orm::TransactionSession;
    let txn = db.begin().await?;
    let failed = Event {
        tenant_id: Some(tenant.id),
        action: "user.login",
        target: None,
        outcome: "failure",
        details: json!({ "client_id": client_id }),
    };
    audit::record(&txn, actor, failed, now).await?;
    if let Some(duration) = locked_for {
        let details = json!({ "lockout_secs": duration.as_secs(), "ip": actor.ip });
        let locked = Event {
            tenant_id: Some(tenant.id),
            action: "user.login_locked",
            target: None,
            outcome: "failure",
            details: details.clone(),
        };
        alerts::record_alerted(&txn, actor, locked, kinds::ACCOUNT_LOCKED, details, now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Notes that an address reached its tenant's threshold of failed sign-in steps
/// across accounts (credential stuffing; [`crate::accounts::lockout::address_failed`] reports
/// that once per address and window): audited as `login.throttled` and raised as a
/// `brute_force.detected` alert. Later refusals in the window are not recorded again.
async fn record_throttled_address<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: &Actor,
    tenant: &TenantCtx,
    ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<()> {
    let address = crate::core::limits::address_key(ip);
    let details =
        json!({ "ip": address, "reason": "too many failed sign-in attempts from this address" });
    alerts::record_and_raise(
        db,
        actor,
        Event {
            tenant_id: Some(tenant.id),
            action: "login.throttled",
            target: Some(format!("ip:{address}")),
            outcome: "failure",
            details: details.clone(),
        },
        kinds::BRUTE_FORCE_DETECTED,
        details,
        now,
    )
    .await
}

/// Counts a failed second factor (TOTP or recovery code, a passkey, or a
/// re-authentication: `method`) of `user` toward the account's lockout and the
/// address's failure budget, audits it, and records the lockout (with its
/// `account.locked` alert) or the `brute_force.detected` alert when this failure
/// reaches a threshold.
pub async fn second_factor_failed<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    cache: &dyn Cache,
    issuer: &Issuer,
    actor: &Actor,
    user: &users::Model,
    method: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let tenant = TenantCtx::from(issuer.tenant());
    let settings = issuer.settings();
    let failed = Event {
        tenant_id: Some(tenant.id),
        action: "user.second_factor",
        target: Some(format!("user:{}", user.id)),
        outcome: "failure",
        details: json!({ "method": method }),
    };
    audit::record(db, actor, failed, now).await?;
    if let Some(ip) = actor.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok())
        && lockout::address_failed(cache, tenant.id, ip, settings, now).await?
    {
        record_throttled_address(db, actor, &tenant, ip, now).await?;
    }
    let policy = lockout::Policy::from_settings(settings);
    if lockout::record_failure(
        cache,
        tenant.id,
        &lockout::Subjects::user(user),
        policy,
        now,
    )
    .await?
    {
        alerts::record_and_raise(
            db,
            actor,
            Event {
                tenant_id: Some(tenant.id),
                action: "user.login_locked",
                target: Some(format!("user:{}", user.id)),
                outcome: "failure",
                details: json!({ "lockout_secs": policy.lockout.as_secs(), "method": method }),
            },
            kinds::ACCOUNT_LOCKED,
            json!({ "ip": actor.ip, "user_id": user.id, "method": method }),
            now,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use entity::{audit_events, security_events, user_totp};
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    };

    use super::*;
    use crate::{
        cache::memory::MemoryCache,
        core::{SettingsPatch, ids},
        crypto::{Keyring, MasterKey},
        journal::alerts::kinds,
        keys::signing::KeyStore,
        tenants::directory::Directory,
        test_support,
    };

    const PASSWORD: &str = "correct horse battery staple";

    /// A tenant with one user (`ann`, with a password) and its issuer.
    struct World {
        db: DatabaseConnection,
        cache: MemoryCache,
        issuer: Issuer,
        user_id: uuid::Uuid,
    }

    impl World {
        async fn new(settings: SettingsPatch) -> Self {
            let db = test_support::db().await;
            let now = test_support::now();
            let keyring = Arc::new(Keyring::new(MasterKey::from_bytes(&[7; 32]), []));
            let tenant = crate::tenants::create(
                &db,
                &keyring,
                &Actor::system(),
                crate::tenants::NewTenant {
                    slug: "acme".into(),
                    display_name: "Acme".into(),
                    settings,
                },
                now,
            )
            .await
            .unwrap();
            let user = crate::accounts::users::create(
                &db,
                &test_support::workers(),
                &TenantCtx::from(&tenant),
                &Actor::system(),
                crate::accounts::users::NewUser {
                    username: "ann".into(),
                    email: Some("ann@example.com".into()),
                    password: Some(PASSWORD.into()),
                    email_verified: true,
                },
                now,
            )
            .await
            .unwrap();
            let resolved = Directory::default()
                .find_enabled(&db, "acme", now)
                .await
                .unwrap()
                .unwrap();
            let keys = KeyStore::new(keyring)
                .get(&db, tenant.id, &resolved.settings.algorithms(), now)
                .await
                .unwrap();
            Self {
                issuer: Issuer::new(resolved, "https://id.example/t/acme".into(), keys),
                cache: MemoryCache::new("test"),
                user_id: user.id,
                db,
            }
        }

        async fn attempt(&self, username: &str, password: &str, ip: &str) -> LoginOutcome {
            let actor = Actor {
                id: "anonymous".into(),
                ip: Some(ip.into()),
                user_agent: None,
            };
            let login = PasswordLogin {
                username,
                password,
                client_id: "app",
                ip: Some(ip.parse().unwrap()),
                mfa_requested: false,
            };
            attempt(
                &self.db,
                &test_support::workers(),
                &self.cache,
                &self.issuer,
                &actor,
                login,
                test_support::now(),
            )
            .await
            .unwrap()
        }

        async fn audited(&self, action: &str, outcome: &str) -> usize {
            audit_events::Entity::find()
                .filter(audit_events::Column::Action.eq(action))
                .filter(audit_events::Column::Outcome.eq(outcome))
                .all(&self.db)
                .await
                .unwrap()
                .len()
        }

        async fn alerts(&self, kind: &str) -> usize {
            security_events::Entity::find()
                .filter(security_events::Column::Kind.eq(kind))
                .all(&self.db)
                .await
                .unwrap()
                .len()
        }
    }

    fn lockout_after(threshold: u32) -> SettingsPatch {
        SettingsPatch {
            lockout_threshold: Some(threshold),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn the_right_password_signs_in_by_username_or_email() {
        let world = World::new(SettingsPatch::default()).await;
        for name in ["ann", "ANN@example.com"] {
            let outcome = world.attempt(name, PASSWORD, "192.0.2.1").await;
            let LoginOutcome::SignedIn(user) = outcome else {
                panic!("{name}: {outcome:?}");
            };
            assert_eq!(user.id, world.user_id);
        }
        assert_eq!(world.audited("user.login", "failure").await, 0);
    }

    #[tokio::test]
    async fn a_wrong_password_is_refused_and_audited() {
        let world = World::new(SettingsPatch::default()).await;
        let outcome = world.attempt("ann", "not the password", "192.0.2.1").await;
        assert!(matches!(outcome, LoginOutcome::Refused), "{outcome:?}");
        assert_eq!(world.audited("user.login", "failure").await, 1);
        assert_eq!(world.alerts(kinds::ACCOUNT_LOCKED).await, 0);
    }

    #[tokio::test]
    async fn an_unknown_user_gets_the_answer_a_wrong_password_gets() {
        let world = World::new(SettingsPatch::default()).await;
        let outcome = world.attempt("nobody", PASSWORD, "192.0.2.1").await;
        assert!(matches!(outcome, LoginOutcome::Refused), "{outcome:?}");
        assert_eq!(world.audited("user.login", "failure").await, 1);
    }

    #[tokio::test]
    async fn the_failure_that_reaches_the_threshold_locks_the_name_once() {
        let world = World::new(lockout_after(3)).await;
        for _ in 0..3 {
            let outcome = world.attempt("ann", "wrong", "192.0.2.1").await;
            assert!(matches!(outcome, LoginOutcome::Refused), "{outcome:?}");
        }
        // Locked now: even the right password is refused without being checked, and
        // the email address shares the account's budget.
        for name in ["ann", "ann@example.com"] {
            let outcome = world.attempt(name, PASSWORD, "192.0.2.9").await;
            let LoginOutcome::Throttled { retry_after } = outcome else {
                panic!("{name}: {outcome:?}");
            };
            assert!(retry_after.as_secs() >= 1);
        }
        assert_eq!(world.audited("user.login_locked", "failure").await, 1);
        assert_eq!(world.alerts(kinds::ACCOUNT_LOCKED).await, 1);
        assert_eq!(world.audited("user.login", "failure").await, 3);
    }

    #[tokio::test]
    async fn successes_never_count_toward_the_lockout() {
        let world = World::new(lockout_after(3)).await;
        for _ in 0..10 {
            let outcome = world.attempt("ann", PASSWORD, "192.0.2.1").await;
            assert!(matches!(outcome, LoginOutcome::SignedIn(_)), "{outcome:?}");
        }
    }

    #[tokio::test]
    async fn a_user_with_totp_owes_a_second_factor_and_keeps_the_failure_count() {
        let world = World::new(lockout_after(3)).await;
        let now = test_support::now();
        user_totp::ActiveModel {
            id: Set(ids::new_id(now)),
            tenant_id: Set(world.issuer.tenant().id),
            user_id: Set(world.user_id),
            secret: Set("v1:unused:unused".into()),
            confirmed_at: Set(Some(now)),
            last_used_step: Set(None),
            created_at: Set(now),
        }
        .insert(&world.db)
        .await
        .unwrap();
        for _ in 0..2 {
            world.attempt("ann", "wrong", "192.0.2.1").await;
        }
        let outcome = world.attempt("ann", PASSWORD, "192.0.2.1").await;
        let LoginOutcome::SecondFactorDue(user) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(user.id, world.user_id);
        // The password step did not forget the two failures: one more locks.
        world.attempt("ann", "wrong", "192.0.2.1").await;
        let outcome = world.attempt("ann", PASSWORD, "192.0.2.1").await;
        assert!(
            matches!(outcome, LoginOutcome::Throttled { .. }),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn an_address_failing_across_accounts_is_throttled_and_alerted_once() {
        let world = World::new(SettingsPatch {
            address_failure_threshold: Some(3),
            ..Default::default()
        })
        .await;
        for name in ["ann", "bob", "cy"] {
            let outcome = world.attempt(name, "wrong", "198.51.100.7").await;
            assert!(matches!(outcome, LoginOutcome::Refused), "{outcome:?}");
        }
        let outcome = world.attempt("ann", PASSWORD, "198.51.100.7").await;
        assert!(
            matches!(outcome, LoginOutcome::Throttled { .. }),
            "{outcome:?}"
        );
        world.attempt("dee", "wrong", "198.51.100.7").await;
        assert_eq!(world.audited("login.throttled", "failure").await, 1);
        assert_eq!(world.alerts(kinds::BRUTE_FORCE_DETECTED).await, 1);
        // Another address is not held back by this one's failures.
        let outcome = world.attempt("ann", PASSWORD, "198.51.100.8").await;
        assert!(matches!(outcome, LoginOutcome::SignedIn(_)), "{outcome:?}");
    }
}

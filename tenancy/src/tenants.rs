//! Tenants: creation (with their first signing key), settings, disabling and deletion.

use chrono::{DateTime, Utc};
use entity::tenants;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Error, Result,
    alerts::{self, SecurityEvent, kinds},
    api_keys::Principal,
    audit::{self, Actor, Event},
    cache::Cache,
    crypto::Keyring,
    ids, key_rotation, keys,
    pagination::{Page, PageRequest},
    validate::{self, Problems},
};

/// Whether users of a tenant must, may or cannot enrol a second factor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// No second factor is offered.
    Off,
    /// Users may enrol a second factor.
    #[default]
    Optional,
    /// Every user must complete a second factor at login.
    Required,
}

/// Per-tenant settings, stored as JSON on the tenant row. Unknown or missing fields
/// fall back to these defaults so later releases can add settings freely.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// Access-token lifetime in seconds (60–86,400; default 600).
    pub access_token_ttl_secs: u32,
    /// ID-token lifetime in seconds (60–86,400; default 3,600).
    pub id_token_ttl_secs: u32,
    /// Absolute refresh-token family lifetime in seconds (300–31,536,000; default 30 days).
    pub refresh_token_ttl_secs: u32,
    /// Idle refresh-token lifetime in seconds (at most the absolute one; default 7 days).
    pub refresh_token_idle_ttl_secs: u32,
    /// Seconds during which a just-rotated refresh token may be retried (0–60; default 0).
    pub refresh_token_reuse_grace_secs: u32,
    /// Login-session lifetime in seconds (300–2,592,000; default 12 hours).
    pub session_ttl_secs: u32,
    /// Second-factor policy.
    pub mfa_policy: MfaPolicy,
    /// Whether end users may register themselves.
    pub signup_allowed: bool,
    /// Addresses that receive security alerts by email.
    pub security_contacts: Vec<String>,
    /// JWS algorithms the tenant publishes keys for; the first signs tokens
    /// (`RS256`, `PS256`, `ES256`, `EdDSA`; default `["RS256"]`).
    pub signing_algs: Vec<String>,
    /// Days between automatic key rotations (1–3,650; default 90).
    pub key_rotation_days: u32,
    /// Seconds a new key is published before it signs: the JWKS `max-age` (300) plus a
    /// margin, so every relying party knows a key before it sees a token (default 360;
    /// 0–86,400).
    pub key_propagation_secs: u32,
    /// Failed logins of one login name tolerated within `lockout_window_secs` before
    /// the name is locked (3–100; default 10).
    pub lockout_threshold: u32,
    /// How long failed logins are counted, in seconds (60–86,400; default 900).
    pub lockout_window_secs: u32,
    /// How long a lockout lasts, in seconds (60–86,400; default 900). Lockouts are
    /// always temporary, so an attacker cannot lock an owner out for good.
    pub lockout_duration_secs: u32,
    /// Failed passwords, second factors and recovery codes from one client address
    /// (IPv6 by /64), across all accounts, tolerated within
    /// `address_failure_window_secs` before the address is refused until the window
    /// ends (credential stuffing; 0 turns it off, at most 100,000; default 100).
    pub address_failure_threshold: u32,
    /// How long failures per address are counted, in seconds (60–86,400; default 3,600).
    pub address_failure_window_secs: u32,
    /// Client addresses and CIDR blocks never throttled nor counted per address (an
    /// office's NAT, a monitoring probe); at most 100 entries.
    pub throttle_allow_list: Vec<String>,
    /// Per-endpoint limits per client address and per target.
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Days audit events are kept before the retention job deletes them (1–3,650;
    /// default 365).
    pub audit_retention_days: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 86_400,
            refresh_token_idle_ttl_secs: 7 * 86_400,
            refresh_token_reuse_grace_secs: 0,
            session_ttl_secs: 12 * 3600,
            mfa_policy: MfaPolicy::Optional,
            signup_allowed: false,
            security_contacts: Vec::new(),
            signing_algs: vec!["RS256".into()],
            key_rotation_days: 90,
            key_propagation_secs: 360,
            lockout_threshold: 10,
            lockout_window_secs: 900,
            lockout_duration_secs: 900,
            address_failure_threshold: 100,
            address_failure_window_secs: 3600,
            throttle_allow_list: Vec::new(),
            rate_limits: crate::rate_limit::RateLimits::default(),
            audit_retention_days: 365,
        }
    }
}

impl TenantSettings {
    /// Reads settings from a tenant row; malformed JSON falls back to defaults.
    pub fn from_json(value: &serde_json::Value) -> Self {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| Error::Internal(e.to_string()))
    }

    /// How long after its last use a retired key must stay published: the longest
    /// lifetime of a token it signed, plus a minute of clock skew.
    pub fn max_signed_token_lifetime(&self) -> chrono::Duration {
        chrono::Duration::seconds(
            i64::from(self.access_token_ttl_secs.max(self.id_token_ttl_secs)) + 60,
        )
    }

    /// The signing algorithms, in preference order (unknown names skipped).
    pub fn algorithms(&self) -> Vec<keys::Algorithm> {
        self.signing_algs
            .iter()
            .filter_map(|a| keys::Algorithm::parse(a))
            .collect()
    }

    fn validate(&self, problems: &mut Problems) {
        let range = |p: &mut Problems, field: &str, v: u32, lo: u32, hi: u32| {
            if !(lo..=hi).contains(&v) {
                p.add(
                    format!("settings.{field}"),
                    format!("must be between {lo} and {hi}"),
                );
            }
        };
        range(
            problems,
            "access_token_ttl_secs",
            self.access_token_ttl_secs,
            60,
            86_400,
        );
        range(
            problems,
            "id_token_ttl_secs",
            self.id_token_ttl_secs,
            60,
            86_400,
        );
        range(
            problems,
            "refresh_token_ttl_secs",
            self.refresh_token_ttl_secs,
            300,
            31_536_000,
        );
        range(
            problems,
            "refresh_token_idle_ttl_secs",
            self.refresh_token_idle_ttl_secs,
            300,
            31_536_000,
        );
        range(
            problems,
            "refresh_token_reuse_grace_secs",
            self.refresh_token_reuse_grace_secs,
            0,
            60,
        );
        range(
            problems,
            "session_ttl_secs",
            self.session_ttl_secs,
            300,
            2_592_000,
        );
        range(
            problems,
            "lockout_threshold",
            self.lockout_threshold,
            3,
            100,
        );
        range(
            problems,
            "lockout_window_secs",
            self.lockout_window_secs,
            60,
            86_400,
        );
        range(
            problems,
            "lockout_duration_secs",
            self.lockout_duration_secs,
            60,
            86_400,
        );
        range(
            problems,
            "address_failure_threshold",
            self.address_failure_threshold,
            0,
            100_000,
        );
        range(
            problems,
            "address_failure_window_secs",
            self.address_failure_window_secs,
            60,
            86_400,
        );
        if self.throttle_allow_list.len() > 100 {
            problems.add("settings.throttle_allow_list", "at most 100 entries");
        }
        for (i, entry) in self.throttle_allow_list.iter().enumerate() {
            if crate::rate_limit::parse_cidr(entry).is_none() {
                problems.add(
                    format!("settings.throttle_allow_list[{i}]"),
                    "must be an IP address or a CIDR block",
                );
            }
        }
        self.rate_limits.validate(problems);
        range(
            problems,
            "audit_retention_days",
            self.audit_retention_days,
            1,
            3_650,
        );
        if self.refresh_token_idle_ttl_secs > self.refresh_token_ttl_secs {
            problems.add(
                "settings.refresh_token_idle_ttl_secs",
                "must not exceed refresh_token_ttl_secs",
            );
        }
        if self.signing_algs.is_empty() || self.signing_algs.len() > 4 {
            problems.add("settings.signing_algs", "list one to four algorithms");
        }
        for (i, alg) in self.signing_algs.iter().enumerate() {
            if keys::Algorithm::parse(alg).is_none() {
                problems.add(
                    format!("settings.signing_algs[{i}]"),
                    "must be RS256, PS256, ES256 or EdDSA",
                );
            } else if self.signing_algs.iter().take(i).any(|a| a == alg) {
                problems.add(format!("settings.signing_algs[{i}]"), "is listed twice");
            }
        }
        if self.security_contacts.len() > 20 {
            problems.add("settings.security_contacts", "at most 20 addresses");
        }
        for (i, contact) in self.security_contacts.iter().enumerate() {
            problems.check(
                format!("settings.security_contacts[{i}]"),
                validate::email(contact),
            );
        }
    }
}

/// Changes to settings; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct SettingsPatch {
    /// See [`TenantSettings::access_token_ttl_secs`].
    pub access_token_ttl_secs: Option<u32>,
    /// See [`TenantSettings::id_token_ttl_secs`].
    pub id_token_ttl_secs: Option<u32>,
    /// See [`TenantSettings::refresh_token_ttl_secs`].
    pub refresh_token_ttl_secs: Option<u32>,
    /// See [`TenantSettings::refresh_token_idle_ttl_secs`].
    pub refresh_token_idle_ttl_secs: Option<u32>,
    /// See [`TenantSettings::refresh_token_reuse_grace_secs`].
    pub refresh_token_reuse_grace_secs: Option<u32>,
    /// See [`TenantSettings::session_ttl_secs`].
    pub session_ttl_secs: Option<u32>,
    /// See [`TenantSettings::mfa_policy`].
    pub mfa_policy: Option<MfaPolicy>,
    /// See [`TenantSettings::signup_allowed`].
    pub signup_allowed: Option<bool>,
    /// See [`TenantSettings::security_contacts`].
    pub security_contacts: Option<Vec<String>>,
    /// See [`TenantSettings::signing_algs`].
    pub signing_algs: Option<Vec<String>>,
    /// See [`TenantSettings::key_rotation_days`].
    pub key_rotation_days: Option<u32>,
    /// See [`TenantSettings::key_propagation_secs`].
    pub key_propagation_secs: Option<u32>,
    /// See [`TenantSettings::lockout_threshold`].
    pub lockout_threshold: Option<u32>,
    /// See [`TenantSettings::lockout_window_secs`].
    pub lockout_window_secs: Option<u32>,
    /// See [`TenantSettings::lockout_duration_secs`].
    pub lockout_duration_secs: Option<u32>,
    /// See [`TenantSettings::address_failure_threshold`].
    pub address_failure_threshold: Option<u32>,
    /// See [`TenantSettings::address_failure_window_secs`].
    pub address_failure_window_secs: Option<u32>,
    /// See [`TenantSettings::throttle_allow_list`].
    pub throttle_allow_list: Option<Vec<String>>,
    /// See [`TenantSettings::rate_limits`]; endpoints absent stay as they are.
    pub rate_limits: Option<crate::rate_limit::RateLimitsPatch>,
    /// See [`TenantSettings::audit_retention_days`].
    pub audit_retention_days: Option<u32>,
}

impl SettingsPatch {
    /// `base` with this patch applied.
    pub fn apply(self, mut base: TenantSettings) -> TenantSettings {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { base.$f = v; } )* };
        }
        set!(
            access_token_ttl_secs,
            id_token_ttl_secs,
            refresh_token_ttl_secs,
            refresh_token_idle_ttl_secs,
            refresh_token_reuse_grace_secs,
            session_ttl_secs,
            mfa_policy,
            signup_allowed,
            security_contacts,
            signing_algs,
            key_rotation_days,
            key_propagation_secs,
            lockout_threshold,
            lockout_window_secs,
            lockout_duration_secs,
            address_failure_threshold,
            address_failure_window_secs,
            throttle_allow_list,
            audit_retention_days
        );
        if let Some(limits) = self.rate_limits {
            base.rate_limits = limits.apply(base.rate_limits);
        }
        base.security_contacts = base
            .security_contacts
            .into_iter()
            .map(|c| c.trim().to_lowercase())
            .collect();
        base
    }
}

/// What a caller supplies to create a tenant.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Lowercase DNS label, 3–63 characters.
    pub slug: String,
    /// Human-readable name.
    pub display_name: String,
    /// Settings to change from the defaults.
    pub settings: SettingsPatch,
}

/// Changes to a tenant; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct TenantPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// Enable or disable the tenant.
    pub enabled: Option<bool>,
    /// Settings changes.
    pub settings: SettingsPatch,
}

/// The tenant a request is about, resolved once and passed to every domain call.
#[derive(Clone, Debug)]
pub struct TenantCtx {
    /// The tenant's id: the value every tenant-owned query filters on.
    pub id: Uuid,
    /// The tenant's slug.
    pub slug: String,
}

impl From<&tenants::Model> for TenantCtx {
    fn from(t: &tenants::Model) -> Self {
        Self {
            id: t.id,
            slug: t.slug.clone(),
        }
    }
}

/// Creates a tenant and its first RS256 signing key, in one transaction.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    actor: &Actor,
    input: NewTenant,
    now: DateTime<Utc>,
) -> Result<tenants::Model> {
    let settings = input.settings.apply(TenantSettings::default());
    let mut problems = Problems::default();
    problems.check("slug", validate::slug(&input.slug));
    problems.check("display_name", validate::display_name(&input.display_name));
    settings.validate(&mut problems);
    problems.finish()?;

    // Key generation is CPU-bound; do it before holding a transaction open. A new
    // tenant's keys sign at once: no relying party can have cached its JWKS yet.
    let mut generated = Vec::new();
    for alg in settings.algorithms() {
        generated.push(keys::generate(alg).await?);
    }

    let txn = db.begin().await?;
    if tenants::Entity::find()
        .filter(tenants::Column::Slug.eq(&input.slug))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "tenant '{}' already exists",
            input.slug
        )));
    }
    let tenant = tenants::ActiveModel {
        id: Set(ids::new_id(now)),
        slug: Set(input.slug),
        display_name: Set(input.display_name),
        enabled: Set(true),
        settings: Set(settings.to_json()?),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut kids = Vec::new();
    for key in generated {
        kids.push(
            keys::store(
                &txn,
                keyring,
                tenant.id,
                key,
                keys::KeyState::Current,
                key_rotation::current_schedule(&settings, now),
                now,
            )
            .await?
            .kid,
        );
    }
    audit::record(
        &txn,
        actor,
        Event::success(
            Some(tenant.id),
            "tenant.created",
            format!("tenant:{}", tenant.slug),
        )
        .with_details(json!({ "signing_keys": kids })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(tenant)
}

/// The enabled tenant with this slug, for protocol requests (disabled tenants refuse
/// every protocol request, exactly as if they did not exist).
pub async fn find_enabled(db: &impl ConnectionTrait, slug: &str) -> Result<Option<tenants::Model>> {
    if validate::slug(slug).is_err() {
        return Ok(None);
    }
    Ok(tenants::Entity::find()
        .filter(tenants::Column::Slug.eq(slug))
        .one(db)
        .await?
        .filter(|t| t.enabled))
}

/// The tenant with this slug, if the principal may see it; otherwise "not found".
pub async fn get_visible(
    db: &impl ConnectionTrait,
    principal: &Principal,
    slug: &str,
) -> Result<tenants::Model> {
    let tenant = tenants::Entity::find()
        .filter(tenants::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if principal.can_see(tenant.id) {
        Ok(tenant)
    } else {
        Err(Error::NotFound("tenant"))
    }
}

/// A page of the tenants the principal may see (a tenant key sees only its own).
pub async fn list_visible(
    db: &impl ConnectionTrait,
    principal: &Principal,
    page: PageRequest,
) -> Result<Page<tenants::Model>> {
    let mut query = tenants::Entity::find();
    if let Some(only) = principal.tenant_id() {
        query = query.filter(tenants::Column::Id.eq(only));
    }
    if let Some(after) = page.after {
        query = query.filter(tenants::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(tenants::Column::Id)
        .limit(page.fetch_limit())
        .all(db)
        .await?;
    Ok(page.finish(rows, |t| t.id))
}

/// Applies `patch` to a tenant, in one transaction with its audit event.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    keyring: &Keyring,
    actor: &Actor,
    tenant: tenants::Model,
    patch: TenantPatch,
    now: DateTime<Utc>,
) -> Result<tenants::Model> {
    let previous = TenantSettings::from_json(&tenant.settings);
    let previous_algs = previous.signing_algs.clone();
    let settings = patch
        .settings
        .apply(TenantSettings::from_json(&tenant.settings));
    let mut problems = Problems::default();
    if let Some(name) = &patch.display_name {
        problems.check("display_name", validate::display_name(name));
    }
    settings.validate(&mut problems);
    problems.finish()?;

    let txn = db.begin().await?;
    let target = format!("tenant:{}", tenant.slug);
    let tenant_id = tenant.id;
    let was_enabled = tenant.enabled;
    let mut model = tenant.into_active_model();
    if let Some(name) = patch.display_name {
        model.display_name = Set(name);
    }
    if let Some(enabled) = patch.enabled {
        model.enabled = Set(enabled);
    }
    model.settings = Set(settings.to_json()?);
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    // Newly listed algorithms get keys, published now and signing after propagation.
    if settings.signing_algs != previous_algs {
        key_rotation::add_missing_algorithms(
            &txn,
            keyring,
            &TenantCtx::from(&updated),
            &settings,
            now,
        )
        .await?;
    }
    let action = match (was_enabled, updated.enabled) {
        (true, false) => "tenant.disabled",
        (false, true) => "tenant.enabled",
        _ => "tenant.updated",
    };
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant_id), action, target),
        now,
    )
    .await?;
    if settings.signing_algs != previous.signing_algs
        || settings.key_rotation_days != previous.key_rotation_days
        || settings.key_propagation_secs != previous.key_propagation_secs
    {
        alerts::raise(
            &txn,
            SecurityEvent::new(
                Some(tenant_id),
                kinds::SIGNING_KEY_SETTINGS_CHANGED,
                json!({
                    "signing_algs": settings.signing_algs,
                    "key_rotation_days": settings.key_rotation_days,
                    "key_propagation_secs": settings.key_propagation_secs,
                }),
                now,
            ),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a tenant and every row it owns, then flushes its cache namespace.
///
/// The rows go in one transaction (with a platform-level audit event, since the
/// tenant's own log goes with it). The cache is flushed after the commit; if that
/// fails the leftover keys are unreachable anyway — every request resolves the tenant
/// first, and a re-created tenant with the same slug gets a new id, hence a new
/// namespace — and they expire on their own, so the failure is logged, not returned.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    cache: &dyn Cache,
    actor: &Actor,
    tenant: tenants::Model,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let id = tenant.id;
    crate::erase::tenant_rows(&txn, id, id).await?;
    tenants::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(None, "tenant.deleted", format!("tenant:{}", tenant.slug))
            .with_details(json!({ "tenant_id": id })),
        now,
    )
    .await?;
    txn.commit().await?;
    if let Err(err) = cache.purge_tenant(id).await {
        tracing::warn!(tenant_id = %id, error = %err, "could not flush a deleted tenant's cache keys; they will expire");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_patch_keeps_absent_fields_and_normalises_contacts() {
        let patched = SettingsPatch {
            access_token_ttl_secs: Some(900),
            security_contacts: Some(vec![" Sec@Example.COM ".into()]),
            ..Default::default()
        }
        .apply(TenantSettings::default());
        assert_eq!(patched.access_token_ttl_secs, 900);
        assert_eq!(patched.id_token_ttl_secs, 3600);
        assert_eq!(patched.security_contacts, vec!["sec@example.com"]);
    }

    #[test]
    fn settings_reject_out_of_range_values_and_bad_contacts() {
        let settings = TenantSettings {
            access_token_ttl_secs: 5,
            refresh_token_idle_ttl_secs: 40 * 86_400,
            security_contacts: vec!["not-an-email".into()],
            ..Default::default()
        };
        let mut problems = Problems::default();
        settings.validate(&mut problems);
        let Err(Error::Invalid(errors)) = problems.finish() else {
            panic!("expected validation errors");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"settings.access_token_ttl_secs"));
        assert!(fields.contains(&"settings.refresh_token_idle_ttl_secs"));
        assert!(fields.contains(&"settings.security_contacts[0]"));
    }

    #[test]
    fn unknown_settings_json_falls_back_to_defaults() {
        let s = TenantSettings::from_json(&json!({"access_token_ttl_secs": 120, "future": true}));
        assert_eq!(s.access_token_ttl_secs, 120);
        assert_eq!(
            s.session_ttl_secs,
            TenantSettings::default().session_ttl_secs
        );
    }
}

#[cfg(test)]
mod domain_tests {
    use std::time::Duration;

    use entity::{audit_events, signing_keys};
    use sea_orm::{EntityTrait, PaginatorTrait};

    use super::*;
    use crate::{
        cache::memory::MemoryCache,
        crypto::MasterKey,
        test_support::{db, now},
    };

    #[tokio::test]
    async fn deleting_a_tenant_purges_its_rows_and_cache_namespace_only() {
        let db = db().await;
        let keyring = Keyring::new(MasterKey::from_bytes(&[9; 32]), []);
        let cache = MemoryCache::new("t");
        let new = |slug: &str| NewTenant {
            slug: slug.into(),
            display_name: slug.into(),
            settings: SettingsPatch::default(),
        };
        let doomed = create(&db, &keyring, &Actor::system(), new("doomed"), now())
            .await
            .unwrap();
        let kept = create(&db, &keyring, &Actor::system(), new("kept"), now())
            .await
            .unwrap();
        let doomed_key = cache.key(doomed.id, "session", "s1");
        let kept_key = cache.key(kept.id, "session", "s1");
        cache
            .set(&doomed_key, b"x", Duration::from_secs(60))
            .await
            .unwrap();
        cache
            .set(&kept_key, b"y", Duration::from_secs(60))
            .await
            .unwrap();

        delete(&db, &cache, &Actor::system(), doomed.clone(), now())
            .await
            .unwrap();

        assert_eq!(cache.get(&doomed_key).await.unwrap(), None);
        assert_eq!(
            cache.get(&kept_key).await.unwrap().as_deref(),
            Some(&b"y"[..])
        );
        assert!(
            tenants::Entity::find_by_id(doomed.id)
                .one(&db)
                .await
                .unwrap()
                .is_none()
        );
        let keys_left = signing_keys::Entity::find()
            .filter(signing_keys::Column::TenantId.eq(doomed.id))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(keys_left, 0);
        assert_eq!(keys::list(&db, kept.id).await.unwrap().len(), 1);
        let deleted_event = audit_events::Entity::find()
            .filter(audit_events::Column::Action.eq("tenant.deleted"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deleted_event.tenant_id, None, "recorded at platform level");
        assert_eq!(deleted_event.occurred_at, now());
    }

    #[tokio::test]
    async fn a_new_tenants_signing_key_is_stored_encrypted_and_decrypts() {
        let db = db().await;
        let keyring = Keyring::new(MasterKey::from_bytes(&[3; 32]), []);
        let tenant = create(
            &db,
            &keyring,
            &Actor::system(),
            NewTenant {
                slug: "acme".into(),
                display_name: "Acme".into(),
                settings: SettingsPatch::default(),
            },
            now(),
        )
        .await
        .unwrap();
        let stored = keys::list(&db, tenant.id).await.unwrap();
        let [key] = stored.as_slice() else {
            panic!("exactly one key expected");
        };
        assert_eq!((key.alg.as_str(), key.state.as_str()), ("RS256", "current"));
        assert!(key.private_key_enc.starts_with("v1:"));
        let der = keys::decrypt_private_key(&keyring, key).unwrap();
        assert!(keys::encoding_key(keys::Algorithm::Rs256, &der).is_ok());
        let other_ring = Keyring::new(MasterKey::from_bytes(&[4; 32]), []);
        assert!(keys::decrypt_private_key(&other_ring, key).is_err());
    }
}

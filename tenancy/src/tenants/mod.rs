//! Tenants: creation (with their first signing key), settings, disabling and deletion.
//!
//! Layering (see the crate doc): may import every folder but `accounts` and `oauth`.

pub mod directory;
pub mod erase;
pub mod issuer;

use chrono::{DateTime, Utc};
use entity::tenants;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionSession, TransactionTrait,
};
use serde_json::json;

use crate::core::{SettingsPatch, TenantCtx, TenantSettings};
use crate::{
    Error, Result,
    cache::Cache,
    core::Principal,
    core::ids,
    core::pagination::{Page, PageRequest},
    core::validate::{self, Problems},
    crypto::Keyring,
    journal::alerts::{self, SecurityEvent, kinds},
    journal::audit::{self, Actor, Event},
    keys,
    keys::rotation,
};

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
                rotation::current_schedule(&settings, now),
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
    page.fetch(db, query, tenants::Column::Id, |t| t.id).await
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
    // The default API must be one of the tenant's (checked in the transaction that
    // writes it, so a concurrent deletion of that API cannot slip in between).
    if !settings.default_api.is_empty()
        && settings.default_api != previous.default_api
        && crate::resources::apis::find_by_identifier(
            &txn,
            &TenantCtx::from(&tenant),
            &settings.default_api,
        )
        .await?
        .is_none()
    {
        return Err(Error::invalid(
            "settings.default_api",
            "is not the identifier of an API of this tenant",
        ));
    }
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
        rotation::add_missing_algorithms(&txn, keyring, &TenantCtx::from(&updated), &settings, now)
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
    crate::tenants::erase::tenant_rows(&txn, id).await?;
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
        assert!(keys::encoding_key(crate::core::Algorithm::Rs256, &der).is_ok());
        let other_ring = Keyring::new(MasterKey::from_bytes(&[4; 32]), []);
        assert!(keys::decrypt_private_key(&other_ring, key).is_err());
    }
}

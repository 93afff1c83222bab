//! Management API keys and the principals they authenticate.
//!
//! A key is `tsk_` followed by 256 random bits (base64url), so a leaked key is easy to
//! recognise and scan for. Only its SHA-256 is stored; the plaintext is shown once.
//! Scopes: `platform_admin` (every tenant, tenant lifecycle, platform keys),
//! `tenant_admin` (one tenant, read and write) and `tenant_read` (one tenant, read).
//! A tenant key asking about another tenant is told "not found", so it cannot learn
//! whether that tenant exists.

use chrono::{DateTime, Duration, Utc};
use entity::api_keys;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionSession, TransactionTrait,
};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use crate::core::{Principal, principal::Scope};
use crate::{
    Error, Result,
    core::TenantCtx,
    core::ids,
    core::pagination::{Page, PageRequest},
    core::validate::{self, Problems},
    crypto::secrets,
    journal::audit::{self, Actor, Event},
};

/// Prefix of every API key.
pub const KEY_PREFIX: &str = "tsk_";
/// `last_used_at` is written at most this often per key, to keep reads cheap.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

impl Scope {
    /// Parses the API/storage name.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "platform_admin" => Ok(Self::PlatformAdmin),
            "tenant_admin" => Ok(Self::TenantAdmin),
            "tenant_read" => Ok(Self::TenantRead),
            _ => Err("must be 'platform_admin', 'tenant_admin' or 'tenant_read'".into()),
        }
    }

    /// The API/storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::TenantAdmin => "tenant_admin",
            Self::TenantRead => "tenant_read",
        }
    }
}

/// Resolves a presented bearer token to a principal.
///
/// `admin_token_sha256` is the SHA-256 of the configured `TESSERA_ADMIN_TOKEN`, compared
/// in constant time. Keys are looked up by their SHA-256, which is safe against
/// timing attacks because the attacker does not control the hash.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    token: &str,
    admin_token_sha256: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Principal> {
    let digest = secrets::sha256_hex(token);
    if let Some(admin) = admin_token_sha256
        && secrets::constant_time_eq(admin.as_bytes(), digest.as_bytes())
    {
        return Ok(Principal::admin_token());
    }
    if !token.starts_with(KEY_PREFIX) {
        return Err(Error::Unauthenticated);
    }
    let key = api_keys::Entity::find()
        .filter(api_keys::Column::KeyHash.eq(&digest))
        .one(db)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or(Error::Unauthenticated)?;
    let scope = Scope::parse(&key.scope).map_err(Error::Internal)?;
    let principal = Principal {
        actor_id: format!("api_key:{}", key.id),
        tenant: key.tenant_id,
        scope,
    };
    let stale = key
        .last_used_at
        .is_none_or(|t| now - t >= Duration::seconds(LAST_USED_RESOLUTION_SECS));
    if stale {
        let mut model = key.into_active_model();
        model.last_used_at = Set(Some(now));
        model.update(db).await?;
    }
    Ok(principal)
}

/// A newly created key with its plaintext, shown once.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored key.
    pub key: api_keys::Model,
    /// The plaintext key.
    pub secret: SecretString,
}

async fn insert(
    db: &impl ConnectionTrait,
    tenant_id: Option<Uuid>,
    name: String,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<CreatedKey> {
    let secret = secrets::random_token(KEY_PREFIX)?;
    let key = api_keys::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant_id),
        name: Set(name),
        scope: Set(scope.as_str().to_owned()),
        prefix: Set(secret.chars().take(KEY_PREFIX.len() + 6).collect()),
        key_hash: Set(secrets::sha256_hex(&secret)),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(CreatedKey {
        key,
        secret: SecretString::from(secret),
    })
}

/// Creates a key: a platform key when `tenant` is none (scope must be
/// `platform_admin`), else a tenant key (`tenant_admin` or `tenant_read`).
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: Option<&TenantCtx>,
    actor: &Actor,
    name: String,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<CreatedKey> {
    let mut problems = Problems::default();
    problems.check("name", validate::display_name(&name));
    let scope = match (Scope::parse(scope), tenant) {
        (Ok(Scope::PlatformAdmin), None) => Some(Scope::PlatformAdmin),
        (Ok(s @ (Scope::TenantAdmin | Scope::TenantRead)), Some(_)) => Some(s),
        (Ok(_), None) => {
            problems.add(
                "scope",
                "platform keys must have the 'platform_admin' scope",
            );
            None
        }
        (Ok(_), Some(_)) => {
            problems.add(
                "scope",
                "tenant keys must be 'tenant_admin' or 'tenant_read'",
            );
            None
        }
        (Err(msg), _) => {
            problems.add("scope", msg);
            None
        }
    };
    problems.finish()?;
    let scope = scope.ok_or_else(|| Error::invalid("scope", "missing"))?;

    let tenant_id = tenant.map(|t| t.id);
    let txn = db.begin().await?;
    let created = insert(&txn, tenant_id, name, scope, now).await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(
            tenant_id,
            "api_key.created",
            format!("api_key:{}", created.key.id),
        )
        .with_details(json!({ "scope": scope.as_str() })),
        crate::journal::alerts::kinds::API_KEY_CREATED,
            json!({ "api_key_id": created.key.id, "name": created.key.name, "scope": scope.as_str(), "actor": actor.id }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Creates a platform admin key for the operator on the very first start of an empty
/// database (no API key, revoked or not, and no tenant yet). Returns the plaintext to
/// print once. Never again afterwards: revoking the last platform key must not make
/// the next restart mint a fresh one that whoever reads the logs could use. (Locked
/// out? Start with `TESSERA_ADMIN_TOKEN` and mint a key through the API.)
pub async fn ensure_bootstrap_key<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Option<SecretString>> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Nodes starting together on one empty database: exactly one mints the key.
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({BOOTSTRAP_LOCK})"))
            .await?;
    }
    let any_key = api_keys::Entity::find().one(&txn).await?;
    let any_tenant = entity::tenants::Entity::find().one(&txn).await?;
    if any_key.is_some() || any_tenant.is_some() {
        return Ok(None);
    }
    let created = insert(&txn, None, "bootstrap".into(), Scope::PlatformAdmin, now).await?;
    audit::record(
        &txn,
        &Actor::system(),
        Event::success(
            None,
            "api_key.bootstrapped",
            format!("api_key:{}", created.key.id),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Some(created.secret))
}

/// An arbitrary, fixed Postgres advisory-lock key for minting the bootstrap key.
const BOOTSTRAP_LOCK: i64 = 0x0074_6573_7362_6f6f;

/// A page of keys: a tenant's keys, or the platform keys when `tenant` is none.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: Option<&TenantCtx>,
    page: PageRequest,
) -> Result<Page<api_keys::Model>> {
    let mut query = api_keys::Entity::find();
    query = match tenant {
        Some(t) => query.filter(api_keys::Column::TenantId.eq(t.id)),
        None => query.filter(api_keys::Column::TenantId.is_null()),
    };
    page.fetch(db, query, api_keys::Column::Id, |k| k.id).await
}

/// Revokes a key of the tenant (or a platform key when `tenant` is none). Revoking an
/// already revoked key succeeds and changes nothing.
pub async fn revoke<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: Option<&TenantCtx>,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<api_keys::Model> {
    let txn = db.begin().await?;
    let key = api_keys::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .filter(|k| k.tenant_id == tenant.map(|t| t.id))
        .ok_or(Error::NotFound("api key"))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let tenant_id = key.tenant_id;
    let mut model = key.into_active_model();
    model.revoked_at = Set(Some(now));
    let key = model.update(&txn).await?;
    crate::journal::alerts::record_alerted(
        &txn,
        actor,
        Event::success(tenant_id, "api_key.revoked", format!("api_key:{id}")),
        crate::journal::alerts::kinds::API_KEY_REVOKED,
        json!({ "api_key_id": id, "name": key.name, "actor": actor.id }),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(key)
}

//! The API registry: create, read, change and delete a tenant's APIs.
//!
//! An API's `identifier` is an absolute URI without a fragment (RFC 8707 §2), unique
//! in the tenant and never changed once created (tokens already issued carry it as
//! their `aud`). Its scopes are its permissions; the OpenID Connect scopes are not
//! an API's to define.

use chrono::{DateTime, Utc};
use entity::{apis, client_grants, consents, tenants};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::{
    Error, Result,
    core::TenantCtx,
    core::TenantSettings,
    core::ids,
    core::pagination::{Page, PageRequest},
    core::validate::{self, Problems},
    journal::audit::{self, Actor, Event},
};

/// Most APIs one tenant may define: the catalogue of a tenant is kept in memory.
pub const MAX_APIS_PER_TENANT: u64 = 100;
/// Most scopes one API may define.
pub const MAX_SCOPES_PER_API: usize = 100;
/// Longest identifier, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 512;
/// Longest scope description, in characters.
pub const MAX_SCOPE_DESCRIPTION_LEN: usize = 200;
/// Scopes defined by OpenID Connect (Core §5.4, §11): no API may claim them.
pub const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// How an API's access tokens are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// A JWT (RFC 9068) the API validates itself against the tenant's JWKS.
    Jwt,
    /// An opaque 256-bit token, stored only as its SHA-256, validated by introspection
    /// (RFC 7662); revocation takes effect at once.
    Reference,
}

impl TokenFormat {
    /// Parses the API/storage name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "jwt" => Some(Self::Jwt),
            "reference" => Some(Self::Reference),
            _ => None,
        }
    }

    /// The API/storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Reference => "reference",
        }
    }
}

/// One permission an API defines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiScope {
    /// The scope token (RFC 6749 §3.3).
    pub value: String,
    /// What it allows, in words, for the consent page.
    pub description: String,
}

/// What a caller supplies to define an API.
#[derive(Clone, Debug)]
pub struct NewApi {
    /// Display name.
    pub name: String,
    /// The absolute URI clients name as `resource`.
    pub identifier: String,
    /// Its permissions.
    pub scopes: Vec<ApiScope>,
    /// `jwt` (default) or `reference`.
    pub token_format: Option<String>,
    /// JWS algorithm of its JWT access tokens (one of the tenant's); none: the
    /// tenant's preferred one.
    pub signing_alg: Option<String>,
    /// Access-token lifetime; none: the tenant's setting.
    pub access_token_ttl_secs: Option<u32>,
    /// Whether refresh tokens may be issued for it.
    pub allow_offline_access: bool,
    /// Whether users get only the scopes their roles grant.
    pub rbac: bool,
    /// Whether its access tokens carry the user's roles.
    pub include_roles: bool,
}

/// Changes to an API; absent fields stay as they are (`Some(None)` clears).
#[derive(Clone, Debug, Default)]
pub struct ApiPatch {
    /// New display name.
    pub name: Option<String>,
    /// New permissions (replace the list).
    pub scopes: Option<Vec<ApiScope>>,
    /// New token format.
    pub token_format: Option<String>,
    /// New signing algorithm, or back to the tenant's.
    pub signing_alg: Option<Option<String>>,
    /// New lifetime, or back to the tenant's.
    pub access_token_ttl_secs: Option<Option<u32>>,
    /// Offline access.
    pub allow_offline_access: Option<bool>,
    /// RBAC.
    pub rbac: Option<bool>,
    /// Roles in the token.
    pub include_roles: Option<bool>,
}

/// The stored scopes of an API.
pub fn scopes(api: &apis::Model) -> Vec<ApiScope> {
    serde_json::from_value(api.scopes.clone()).unwrap_or_default()
}

/// Checks an identifier: an absolute URI without a fragment (RFC 8707 §2).
pub fn check_identifier(value: &str) -> Result<(), String> {
    if value.len() > MAX_IDENTIFIER_LEN {
        return Err(format!("must be at most {MAX_IDENTIFIER_LEN} bytes"));
    }
    if validate::has_control_chars(value) || value.contains(' ') {
        return Err("must not contain spaces or control characters".into());
    }
    let parsed =
        url::Url::parse(value).map_err(|_| "must be an absolute URI (RFC 8707 §2)".to_owned())?;
    if value.contains('#') || parsed.fragment().is_some() {
        return Err("must not contain a fragment (RFC 8707 §2)".into());
    }
    Ok(())
}

struct Definition<'a> {
    scopes: &'a [ApiScope],
    token_format: &'a str,
    signing_alg: Option<&'a str>,
    access_token_ttl_secs: Option<u32>,
}

impl Definition<'_> {
    fn check(&self, settings: &TenantSettings, problems: &mut Problems) {
        if self.scopes.len() > MAX_SCOPES_PER_API {
            problems.add("scopes", format!("at most {MAX_SCOPES_PER_API} scopes"));
        }
        for (i, scope) in self.scopes.iter().enumerate() {
            let field = format!("scopes[{i}].value");
            problems.check(field.clone(), validate::scope_token(&scope.value));
            if OIDC_SCOPES.contains(&scope.value.as_str()) {
                problems.add(field.clone(), "is an OpenID Connect scope, not an API's");
            }
            if self.scopes.iter().take(i).any(|s| s.value == scope.value) {
                problems.add(field, "is listed twice");
            }
            let description = &scope.description;
            if description.chars().count() > MAX_SCOPE_DESCRIPTION_LEN
                || validate::has_control_chars(description)
            {
                problems.add(
                    format!("scopes[{i}].description"),
                    format!(
                        "must be at most {MAX_SCOPE_DESCRIPTION_LEN} characters, no control characters"
                    ),
                );
            }
        }
        if TokenFormat::parse(self.token_format).is_none() {
            problems.add("token_format", "must be 'jwt' or 'reference'");
        }
        if let Some(alg) = self.signing_alg {
            settings.check_signing_alg("signing_alg", alg, problems);
        }
        if let Some(ttl) = self.access_token_ttl_secs
            && !(60..=86_400).contains(&ttl)
        {
            problems.add("access_token_ttl_secs", "must be between 60 and 86400");
        }
    }
}

/// Defines an API, with its audit event.
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    input: NewApi,
    now: DateTime<Utc>,
) -> Result<apis::Model> {
    let txn = db.begin().await?;
    let settings = tenant.stored_settings(&txn).await?;
    let token_format = input.token_format.unwrap_or_else(|| "jwt".into());
    let mut problems = Problems::default();
    problems.check("name", validate::display_name(&input.name));
    problems.check("identifier", check_identifier(&input.identifier));
    Definition {
        scopes: &input.scopes,
        token_format: &token_format,
        signing_alg: input.signing_alg.as_deref(),
        access_token_ttl_secs: input.access_token_ttl_secs,
    }
    .check(&settings, &mut problems);
    problems.finish()?;
    let existing = apis::Entity::find()
        .filter(apis::Column::TenantId.eq(tenant.id))
        .count(&txn)
        .await?;
    if existing >= MAX_APIS_PER_TENANT {
        return Err(Error::Conflict(format!(
            "a tenant has at most {MAX_APIS_PER_TENANT} APIs"
        )));
    }
    if find_by_identifier(&txn, tenant, &input.identifier)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(
            "an API with this identifier already exists".into(),
        ));
    }
    let api = apis::ActiveModel {
        id: Set(ids::new_id(now)),
        tenant_id: Set(tenant.id),
        name: Set(input.name),
        identifier: Set(input.identifier),
        scopes: Set(json!(input.scopes)),
        token_format: Set(token_format),
        signing_alg: Set(input.signing_alg),
        access_token_ttl_secs: Set(input.access_token_ttl_secs.map(ttl_column)),
        allow_offline_access: Set(input.allow_offline_access),
        rbac: Set(input.rbac),
        include_roles: Set(input.include_roles),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "api.created", format!("api:{}", api.id)).with_details(
            json!({ "identifier": api.identifier, "token_format": api.token_format }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(api)
}

fn ttl_column(ttl: u32) -> i32 {
    i32::try_from(ttl).unwrap_or(i32::MAX)
}

/// One API of the tenant by id.
pub async fn get(db: &impl ConnectionTrait, tenant: &TenantCtx, id: Uuid) -> Result<apis::Model> {
    apis::Entity::find()
        .filter(apis::Column::TenantId.eq(tenant.id))
        .filter(apis::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("api"))
}

/// One API of the tenant by identifier, if there is one.
pub async fn find_by_identifier(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    identifier: &str,
) -> Result<Option<apis::Model>> {
    Ok(apis::Entity::find()
        .filter(apis::Column::TenantId.eq(tenant.id))
        .filter(apis::Column::Identifier.eq(identifier))
        .one(db)
        .await?)
}

/// A page of the tenant's APIs, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantCtx,
    page: PageRequest,
) -> Result<Page<apis::Model>> {
    let query = apis::Entity::find().filter(apis::Column::TenantId.eq(tenant.id));
    page.fetch(db, query, apis::Column::Id, |a| a.id).await
}

/// Applies `patch` to an API after re-checking its whole definition.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    patch: ApiPatch,
    now: DateTime<Utc>,
) -> Result<apis::Model> {
    let txn = db.begin().await?;
    let settings = tenant.stored_settings(&txn).await?;
    let api = get(&txn, tenant, id).await?;
    let new_scopes = patch.scopes.clone().unwrap_or_else(|| scopes(&api));
    let token_format = patch
        .token_format
        .clone()
        .unwrap_or_else(|| api.token_format.clone());
    let signing_alg = patch
        .signing_alg
        .clone()
        .unwrap_or_else(|| api.signing_alg.clone());
    let ttl = patch.access_token_ttl_secs.unwrap_or_else(|| {
        api.access_token_ttl_secs
            .and_then(|t| u32::try_from(t).ok())
    });
    let mut problems = Problems::default();
    if let Some(name) = &patch.name {
        problems.check("name", validate::display_name(name));
    }
    // Only a changed algorithm must be one the tenant has now: an unchanged one that
    // the tenant has since dropped falls back to the tenant's preferred key.
    let alg_to_check = patch.signing_alg.as_ref().and_then(|a| a.as_deref());
    Definition {
        scopes: &new_scopes,
        token_format: &token_format,
        signing_alg: alg_to_check,
        access_token_ttl_secs: ttl,
    }
    .check(&settings, &mut problems);
    problems.finish()?;
    let removed: Vec<String> = scopes(&api)
        .into_iter()
        .filter(|old| !new_scopes.iter().any(|s| s.value == old.value))
        .map(|s| s.value)
        .collect();
    let mut model = api.into_active_model();
    if let Some(name) = patch.name {
        model.name = Set(name);
    }
    model.scopes = Set(json!(new_scopes));
    model.token_format = Set(token_format);
    model.signing_alg = Set(signing_alg);
    model.access_token_ttl_secs = Set(ttl.map(ttl_column));
    if let Some(v) = patch.allow_offline_access {
        model.allow_offline_access = Set(v);
    }
    if let Some(v) = patch.rbac {
        model.rbac = Set(v);
    }
    if let Some(v) = patch.include_roles {
        model.include_roles = Set(v);
    }
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    // A scope the API no longer defines is granted by no role and no client grant.
    if !removed.is_empty() {
        crate::resources::roles::forget_permissions(&txn, tenant, id, Some(&removed), now).await?;
        crate::resources::client_grants::forget_scopes(&txn, tenant, id, &removed, now).await?;
    }
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "api.updated", format!("api:{id}"))
            .with_details(json!({ "scopes_removed": removed })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes an API with everything that names it: its client grants, the role
/// permissions and consents for it, and the tenant's `default_api` if it was this one.
/// Tokens already issued for it stay valid until they expire.
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &TenantCtx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let txn = db.begin().await?;
    let api = get(&txn, tenant, id).await?;
    client_grants::Entity::delete_many()
        .filter(client_grants::Column::TenantId.eq(tenant.id))
        .filter(client_grants::Column::ApiId.eq(id))
        .exec(&txn)
        .await?;
    crate::resources::roles::forget_permissions(&txn, tenant, id, None, now).await?;
    consents::Entity::delete_many()
        .filter(consents::Column::TenantId.eq(tenant.id))
        .filter(consents::Column::Resource.eq(api.identifier.as_str()))
        .exec(&txn)
        .await?;
    let row = tenants::Entity::find_by_id(tenant.id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    let mut settings = TenantSettings::from_json(&row.settings);
    if settings.default_api == api.identifier {
        settings.default_api = String::new();
        let mut model = row.into_active_model();
        model.settings = Set(settings.to_json()?);
        model.updated_at = Set(now);
        model.update(&txn).await?;
    }
    apis::Entity::delete_by_id(api.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        Event::success(Some(tenant.id), "api.deleted", format!("api:{id}"))
            .with_details(json!({ "identifier": api.identifier })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

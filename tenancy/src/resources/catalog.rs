//! A tenant's APIs parsed once for the protocol: looked up by `resource` at the
//! authorization and token endpoints without a database read per request.

use std::{collections::HashMap, sync::Arc};

use entity::apis;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::{
    Result,
    core::Algorithm,
    core::TenantCtx,
    core::scopes::ScopeSet,
    resources::apis::{ApiScope, TokenFormat, scopes},
};

/// An API as the protocol uses it.
#[derive(Clone, Debug)]
pub struct Api {
    /// Its id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The `resource` / `aud` URI.
    pub identifier: String,
    /// Its permissions, in definition order.
    pub scopes: Vec<ApiScope>,
    /// How its access tokens are made.
    pub token_format: TokenFormat,
    /// The algorithm of its JWT access tokens; none: the tenant's preferred one.
    pub signing_alg: Option<Algorithm>,
    /// Access-token lifetime; none: the tenant's setting.
    pub access_token_ttl_secs: Option<u32>,
    /// Whether refresh tokens may be issued for it.
    pub allow_offline_access: bool,
    /// Whether users get only what their roles grant.
    pub rbac: bool,
    /// Whether its tokens carry the user's roles.
    pub include_roles: bool,
}

impl Api {
    /// Parses a stored row (an unknown format or algorithm falls back to the defaults).
    pub fn from_model(model: &apis::Model) -> Self {
        Self {
            id: model.id,
            name: model.name.clone(),
            identifier: model.identifier.clone(),
            scopes: scopes(model),
            token_format: TokenFormat::parse(&model.token_format).unwrap_or(TokenFormat::Jwt),
            signing_alg: model.signing_alg.as_deref().and_then(Algorithm::parse),
            access_token_ttl_secs: model
                .access_token_ttl_secs
                .and_then(|t| u32::try_from(t).ok()),
            allow_offline_access: model.allow_offline_access,
            rbac: model.rbac,
            include_roles: model.include_roles,
        }
    }

    /// Whether the API defines `scope`.
    pub fn defines(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.value == scope)
    }

    /// The part of `scope` this API defines.
    pub fn own_part(&self, scope: &ScopeSet) -> ScopeSet {
        ScopeSet::from_tokens(scope.iter().filter(|s| self.defines(s)))
    }

    /// The description of `scope`, if the API defines it.
    pub fn describe(&self, scope: &str) -> Option<&str> {
        self.scopes
            .iter()
            .find(|s| s.value == scope)
            .map(|s| s.description.as_str())
    }
}

/// Every API of one tenant.
#[derive(Debug, Default)]
pub struct ApiCatalog {
    by_identifier: HashMap<String, Arc<Api>>,
}

impl ApiCatalog {
    /// Reads every API of the tenant (at most [`super::apis::MAX_APIS_PER_TENANT`]).
    pub async fn load(db: &impl ConnectionTrait, tenant: &TenantCtx) -> Result<Self> {
        let rows = apis::Entity::find()
            .filter(apis::Column::TenantId.eq(tenant.id))
            .order_by_asc(apis::Column::Id)
            .all(db)
            .await?;
        Ok(Self {
            by_identifier: rows
                .iter()
                .map(|row| (row.identifier.clone(), Arc::new(Api::from_model(row))))
                .collect(),
        })
    }

    /// The API whose identifier is `resource`.
    pub fn get(&self, resource: &str) -> Option<&Arc<Api>> {
        self.by_identifier.get(resource)
    }

    /// The API with id `id`.
    pub fn by_id(&self, id: Uuid) -> Option<&Arc<Api>> {
        self.by_identifier.values().find(|api| api.id == id)
    }

    /// Adds `api` (for tests that build a catalogue by hand).
    #[cfg(test)]
    pub fn insert(&mut self, api: Arc<Api>) {
        self.by_identifier.insert(api.identifier.clone(), api);
    }

    /// Whether the tenant has no API at all.
    pub fn is_empty(&self) -> bool {
        self.by_identifier.is_empty()
    }
}

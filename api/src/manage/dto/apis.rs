//! APIs (protected resources), roles, user roles and client grants.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Enum, Object, payload::Json, types::MaybeUndefined};
use tenancy::entity::{apis, client_grants, roles};
use uuid::Uuid;

/// How an API's access tokens are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TokenFormatDto {
    /// An RFC 9068 JWT (`typ: at+jwt`) the API validates against the tenant's JWKS.
    Jwt,
    /// An opaque 256-bit reference token (`tra_...`), validated by introspection
    /// (RFC 7662); revocation takes effect at once.
    Reference,
}

impl TokenFormatDto {
    /// The domain name of the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Reference => "reference",
        }
    }
}

/// One permission of an API.
#[derive(Clone, Debug, Object, serde::Deserialize, serde::Serialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ApiScopeDto {
    /// The scope token (RFC 6749 §3.3), e.g. `invoices:read`; not an OpenID Connect
    /// scope.
    pub value: String,
    /// What it allows, in words: shown on the consent page (at most 200 characters).
    #[oai(default)]
    #[serde(default)]
    pub description: String,
}

/// Body of `create_api`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateApiRequest {
    /// Display name (shown on the consent page).
    pub name: String,
    /// An absolute URI without a fragment (RFC 8707 §2), unique in the tenant and
    /// never changed: what clients send as `resource` and the `aud` of the tokens.
    pub identifier: String,
    /// The API's permissions (at most 100).
    #[oai(default)]
    #[serde(default)]
    pub scopes: Vec<ApiScopeDto>,
    // Enum-typed: documented by `TokenFormatDto` (no `allOf` wrapper). Default `jwt`.
    pub token_format: Option<TokenFormatDto>,
    /// JWS algorithm of its JWT access tokens: one of the tenant's `signing_algs`
    /// (default: the tenant's first).
    pub signing_alg: Option<String>,
    /// Lifetime of its access tokens in seconds, 60–86400 (default: the tenant's
    /// `access_token_ttl_secs`).
    pub access_token_ttl_secs: Option<u32>,
    /// Whether refresh tokens may be issued for grants that include it (default false).
    #[oai(default)]
    #[serde(default)]
    pub allow_offline_access: bool,
    /// When true a user gets only the scopes their roles grant (default false).
    #[oai(default)]
    #[serde(default)]
    pub rbac: bool,
    /// When true its access tokens carry the user's role names in the `roles` claim
    /// (RFC 9068 §2.2.3.1; default false).
    #[oai(default)]
    #[serde(default)]
    pub include_roles: bool,
}

/// Body of `update_api`; omitted fields keep their value. The identifier cannot
/// change.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiRequest {
    /// New display name.
    pub name: Option<String>,
    /// New permissions (replaces the list; roles and client grants lose removed
    /// scopes).
    pub scopes: Option<Vec<ApiScopeDto>>,
    // Enum-typed: documented by `TokenFormatDto`.
    pub token_format: Option<TokenFormatDto>,
    /// New signing algorithm; `null`: the tenant's first.
    #[serde(default)]
    #[oai(nullable)]
    pub signing_alg: MaybeUndefined<String>,
    /// New lifetime; `null`: the tenant's setting.
    #[serde(default)]
    #[oai(nullable)]
    pub access_token_ttl_secs: MaybeUndefined<u32>,
    /// Offline access.
    pub allow_offline_access: Option<bool>,
    /// RBAC.
    pub rbac: Option<bool>,
    /// Roles in the access token.
    pub include_roles: Option<bool>,
}

/// An API: a protected resource of the tenant.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiResourceResponse {
    /// Its id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The `resource` / `aud` URI.
    pub identifier: String,
    /// Its permissions.
    pub scopes: Vec<ApiScopeDto>,
    /// `jwt` or `reference`.
    pub token_format: String,
    /// JWS algorithm of its JWT access tokens; absent: the tenant's first.
    pub signing_alg: Option<String>,
    /// Access-token lifetime in seconds; absent: the tenant's setting.
    pub access_token_ttl_secs: Option<u32>,
    /// Whether refresh tokens may be issued for it.
    pub allow_offline_access: bool,
    /// Whether users get only what their roles grant.
    pub rbac: bool,
    /// Whether its tokens carry the `roles` claim.
    pub include_roles: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<apis::Model> for ApiResourceResponse {
    fn from(a: apis::Model) -> Self {
        Self {
            scopes: tenancy::resources::apis::scopes(&a)
                .into_iter()
                .map(|s| ApiScopeDto {
                    value: s.value,
                    description: s.description,
                })
                .collect(),
            id: a.id,
            name: a.name,
            identifier: a.identifier,
            token_format: a.token_format,
            signing_alg: a.signing_alg,
            access_token_ttl_secs: a.access_token_ttl_secs.and_then(|t| u32::try_from(t).ok()),
            allow_offline_access: a.allow_offline_access,
            rbac: a.rbac,
            include_roles: a.include_roles,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A page of APIs.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiPage {
    /// APIs on this page, oldest first.
    pub items: Vec<ApiResourceResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_api` succeeded.
#[derive(ApiResponse)]
pub enum ApiCreated {
    /// The new API.
    #[oai(status = 201)]
    Created(Json<ApiResourceResponse>),
}

/// The OAuth 2.0 Protected Resource Metadata (RFC 9728 §2) an API publishes at
/// `/.well-known/oauth-protected-resource` to point clients at this tenant.
#[derive(Clone, Debug, Object)]
pub struct ProtectedResourceMetadata {
    /// The API's identifier (RFC 9728 §2 `resource`).
    pub resource: String,
    /// The tenant's issuer (RFC 9728 §2 `authorization_servers`).
    pub authorization_servers: Vec<String>,
    /// The API's scopes.
    pub scopes_supported: Vec<String>,
    /// How tokens are presented: the `Authorization` header (RFC 6750 §2.1).
    pub bearer_methods_supported: Vec<String>,
    /// The API's display name.
    pub resource_name: String,
}

/// One scope of one API granted by a role.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct PermissionDto {
    /// The API's id.
    pub api_id: Uuid,
    /// One of its scopes.
    pub scope: String,
}

/// Body of `create_role`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Unique name in the tenant (1–100 bytes): the value of the `roles` claim.
    pub name: String,
    /// Free text for operators (at most 500 characters).
    #[oai(default)]
    #[serde(default)]
    pub description: String,
    /// The API scopes the role grants (at most 500).
    #[oai(default)]
    #[serde(default)]
    pub permissions: Vec<PermissionDto>,
}

/// Body of `update_role`; omitted fields keep their value.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New permissions (replaces the list).
    pub permissions: Option<Vec<PermissionDto>>,
}

/// A role.
#[derive(Clone, Debug, Object)]
pub struct RoleResponse {
    /// Its id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The API scopes it grants.
    pub permissions: Vec<PermissionResponse>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One permission of a role.
#[derive(Clone, Debug, Object)]
pub struct PermissionResponse {
    /// The API's id.
    pub api_id: Uuid,
    /// The scope.
    pub scope: String,
}

impl From<roles::Model> for RoleResponse {
    fn from(r: roles::Model) -> Self {
        Self {
            permissions: tenancy::resources::roles::permissions(&r)
                .into_iter()
                .map(|p| PermissionResponse {
                    api_id: p.api_id,
                    scope: p.scope,
                })
                .collect(),
            id: r.id,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A page of roles.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RolePage {
    /// Roles on this page, oldest first.
    pub items: Vec<RoleResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_role` succeeded.
#[derive(ApiResponse)]
pub enum RoleCreated {
    /// The new role.
    #[oai(status = 201)]
    Created(Json<RoleResponse>),
}

/// Body of `set_user_roles`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct SetUserRolesRequest {
    /// The roles the user holds from now on (at most 50; replaces the set).
    pub role_ids: Vec<Uuid>,
}

/// The roles a user holds.
#[derive(Clone, Debug, Object)]
pub struct UserRolesResponse {
    /// The roles, in assignment order.
    pub items: Vec<RoleResponse>,
}

/// Body of `create_client_grant`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateClientGrantRequest {
    /// The client's `client_id`.
    pub client_id: String,
    /// The API's id.
    pub api_id: Uuid,
    /// Scopes of that API the client may get with client credentials.
    #[oai(default)]
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Body of `update_client_grant`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientGrantRequest {
    /// The granted scopes (replaces the list).
    pub scopes: Vec<String>,
}

/// A client's machine access to an API (client credentials).
#[derive(Clone, Debug, Object)]
pub struct ClientGrantResponse {
    /// Its id.
    pub id: Uuid,
    /// The client.
    pub client_id: String,
    /// The API.
    pub api_id: Uuid,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<client_grants::Model> for ClientGrantResponse {
    fn from(g: client_grants::Model) -> Self {
        Self {
            scopes: tenancy::resources::client_grants::scopes(&g),
            id: g.id,
            client_id: g.client_id,
            api_id: g.api_id,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

/// A page of client grants.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ClientGrantPage {
    /// Grants on this page, oldest first.
    pub items: Vec<ClientGrantResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_client_grant` succeeded.
#[derive(ApiResponse)]
pub enum ClientGrantCreated {
    /// The new grant.
    #[oai(status = 201)]
    Created(Json<ClientGrantResponse>),
}

/// The patch's view of a nullable field.
pub fn nullable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

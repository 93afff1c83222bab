//! Management API keys.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Enum, Object, payload::Json};
use secrecy::ExposeSecret;
use tenancy::entity::api_keys;
use uuid::Uuid;

/// What an API key may do: `tenant_admin` or `tenant_read` for tenant keys,
/// `platform_admin` for platform keys.
#[derive(Clone, Copy, Debug, Enum, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyScopeDto {
    /// Everything on every tenant (platform keys only).
    PlatformAdmin,
    /// Read and write one tenant.
    TenantAdmin,
    /// Read one tenant.
    TenantRead,
}

impl ApiKeyScopeDto {
    /// The domain name of the scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::TenantAdmin => "tenant_admin",
            Self::TenantRead => "tenant_read",
        }
    }
}

/// Body of `create_api_key` and `create_platform_api_key`.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A label to recognise the key by.
    pub name: String,
    // Enum-typed: documented by `ApiKeyScopeDto` (no `allOf` wrapper, see above).
    pub scope: ApiKeyScopeDto,
}

/// A management API key (its secret only in the response that created it).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyResponse {
    /// Key id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// What the key may do.
    pub scope: String,
    /// The tenant the key is limited to; absent for platform keys.
    pub tenant_id: Option<Uuid>,
    /// First characters of the key, to recognise it.
    pub prefix: String,
    /// The key itself: present only in the response that created it. Store it now.
    #[oai(skip_serializing_if_is_none)]
    pub key: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time; revoked keys never authenticate.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyResponse {
    /// Builds the response, with the plaintext key when it was just created.
    pub fn new(k: api_keys::Model, secret: Option<secrecy::SecretString>) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scope: k.scope,
            tenant_id: k.tenant_id,
            prefix: k.prefix,
            key: secret.map(|s| s.expose_secret().to_owned()),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A page of API keys.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyPage {
    /// Keys on this page, oldest first.
    pub items: Vec<ApiKeyResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_api_key` succeeded.
#[derive(ApiResponse)]
pub enum ApiKeyCreated {
    /// The new key; `key` is shown this once.
    #[oai(status = 201)]
    Created(Json<ApiKeyResponse>),
}

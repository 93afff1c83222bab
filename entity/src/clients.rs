//! `clients`: OAuth clients registered in a tenant.

use sea_orm::entity::prelude::*;

/// One OAuth client (RFC 6749 §2).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Public `client_id`, unique across the deployment.
    #[sea_orm(unique)]
    pub client_id: String,
    /// Display name shown on the consent page.
    pub name: String,
    /// `confidential` or `public` (RFC 6749 §2.1).
    pub client_type: String,
    /// Registered redirect URIs (JSON array of strings), matched exactly.
    pub redirect_uris: Json,
    /// Registered post-logout redirect URIs (JSON array of strings).
    pub post_logout_redirect_uris: Json,
    /// Allowed grant types (JSON array of strings).
    pub grant_types: Json,
    /// Scopes the client may request (JSON array of strings).
    pub allowed_scopes: Json,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    /// PKCE required (always true for public clients).
    pub require_pkce: bool,
    /// The one client authentication method accepted (OIDC Registration §2):
    /// `client_secret_basic`, `client_secret_post` or `none` (public clients).
    pub token_endpoint_auth_method: String,
    /// JWS algorithm of this client's ID tokens (OIDC Registration §2
    /// `id_token_signed_response_alg`); `None`: the tenant's current key.
    pub id_token_signed_response_alg: Option<String>,
    /// Argon2id PHC string of the current secret (confidential clients).
    pub secret_hash: Option<String>,
    /// Argon2id PHC string of the previous secret during a rotation grace period.
    pub previous_secret_hash: Option<String>,
    /// End of the grace period of `previous_secret_hash`.
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// When the client was created.
    pub created_at: DateTimeUtc,
    /// When the client was last changed.
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("clients::Model")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_type", &self.client_type)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .finish_non_exhaustive()
    }
}

/// No relations are declared: rows are reached through `tenant_id` filters.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

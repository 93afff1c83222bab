//! `signing_keys`: a tenant's JWS signing keys, private halves encrypted at rest.

use sea_orm::entity::prelude::*;

/// One signing key of one tenant.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// JWS `kid`, unique within the tenant.
    pub kid: String,
    /// JWS algorithm (`RS256`, `ES256`, `EdDSA`).
    pub alg: String,
    /// Lifecycle state: `next`, `current` or `retired`.
    pub state: String,
    /// PKCS#8 private key, AES-256-GCM encrypted under the master key.
    pub private_key_enc: String,
    /// Public key as a JWK (JSON), published in the tenant's JWKS.
    pub public_jwk: Json,
    /// When the key was generated.
    pub created_at: DateTimeUtc,
    /// When the key became `current`.
    pub activated_at: Option<DateTimeUtc>,
    /// When the key was retired.
    pub retired_at: Option<DateTimeUtc>,
    /// A `next` key starts signing from then (after the JWKS propagation delay).
    pub activate_after: Option<DateTimeUtc>,
    /// A `current` key is rotated automatically from then.
    pub rotate_after: Option<DateTimeUtc>,
    /// A `retired` key leaves the JWKS from then (every token it signed has expired).
    pub remove_after: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("signing_keys::Model")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("private_key_enc", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// No relations are declared: rows are reached through `tenant_id` filters.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `apis`: a tenant's protected resources (RFC 8707 §2), the audiences of its access tokens.

use sea_orm::entity::prelude::*;

/// One API (resource server) of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "apis")]
pub struct Model {
    /// Primary key (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Display name (shown on the consent page).
    pub name: String,
    /// The absolute URI clients name as `resource`; the `aud` of its tokens. Unique in
    /// the tenant and never changed.
    pub identifier: String,
    /// Its permissions: JSON array of `{"value", "description"}`.
    pub scopes: Json,
    /// `jwt` (RFC 9068) or `reference` (opaque, introspected).
    pub token_format: String,
    /// JWS algorithm of its JWT access tokens; `None`: the tenant's current key.
    pub signing_alg: Option<String>,
    /// Lifetime of its access tokens; `None`: the tenant's setting.
    pub access_token_ttl_secs: Option<i32>,
    /// Whether refresh tokens may be issued for it.
    pub allow_offline_access: bool,
    /// Whether a user gets only the scopes their roles grant.
    pub rbac: bool,
    /// Whether its access tokens carry the user's role names.
    pub include_roles: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

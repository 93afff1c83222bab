//! `tenants`: one row per SaaS customer's isolated identity realm.

use sea_orm::entity::prelude::*;

/// A tenant: its slug names its issuer `{PUBLIC_URL}/t/{slug}`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    /// Primary key (UUIDv7, so ids sort by creation time).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Lowercase DNS label naming the tenant in URLs.
    #[sea_orm(unique)]
    pub slug: String,
    /// Human-readable name shown on login pages.
    pub display_name: String,
    /// Disabled tenants refuse every protocol request.
    pub enabled: bool,
    /// Tenant settings as JSON (token lifetimes, MFA policy, contacts, ...).
    pub settings: Json,
    /// When the tenant was created.
    pub created_at: DateTimeUtc,
    /// When the tenant was last changed.
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: tenant-owned rows are reached through `tenant_id` filters.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

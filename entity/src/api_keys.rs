//! `api_keys`: bearer keys for the management API, stored only as SHA-256.

use sea_orm::entity::prelude::*;

/// One management API key, platform-wide (`tenant_id` null) or tenant-scoped.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Tenant the key is limited to; none for platform keys.
    pub tenant_id: Option<Uuid>,
    /// Operator-chosen label.
    pub name: String,
    /// `platform_admin`, `tenant_admin` or `tenant_read`.
    pub scope: String,
    /// First characters of the key, shown so operators can recognise it.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// When the key was created.
    pub created_at: DateTimeUtc,
    /// Last time the key authenticated a request (updated at most once a minute).
    pub last_used_at: Option<DateTimeUtc>,
    /// When the key was revoked; revoked keys never authenticate.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

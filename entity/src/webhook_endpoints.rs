//! `webhook_endpoints`: where a tenant's security alerts are POSTed.

use sea_orm::entity::prelude::*;

/// One webhook endpoint of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    /// Primary key (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The receiver's URL (`https://...`, or `http://...`).
    pub url: String,
    /// Free text for the tenant's operators.
    pub description: String,
    /// Event types delivered here (JSON array of strings); empty means every type.
    pub event_types: Json,
    /// The `whsec_...` signing secret, encrypted with the master keyring.
    pub secret_enc: String,
    /// Disabled endpoints receive nothing.
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

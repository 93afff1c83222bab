//! `roles`: named sets of API permissions, assigned to users.

use sea_orm::entity::prelude::*;

/// One role of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    /// Primary key (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Unique name in the tenant (the value of the roles claim).
    pub name: String,
    /// Free text for the tenant's operators.
    pub description: String,
    /// Granted permissions: JSON array of `{"api_id", "scope"}`.
    pub permissions: Json,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

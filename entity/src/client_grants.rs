//! `client_grants`: which API scopes a client may get for itself (client credentials).

use sea_orm::entity::prelude::*;

/// One client's machine access to one API.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_grants")]
pub struct Model {
    /// Primary key (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The client's `client_id`.
    pub client_id: String,
    /// The API.
    pub api_id: Uuid,
    /// Granted scopes of that API (JSON array of strings).
    pub scopes: Json,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `consents`: scopes a user granted to a client, one row per API.

use sea_orm::entity::prelude::*;

/// One user's consent to one client for one API (or for no API).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The client's `client_id`.
    pub client_id: String,
    /// The API (its identifier) the scopes are of; empty for OpenID Connect scopes and
    /// scopes of no API.
    pub resource: String,
    /// Granted scopes (JSON array).
    pub scopes: Json,
    /// First grant.
    pub granted_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

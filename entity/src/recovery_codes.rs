//! `recovery_codes`: SHA-256 of a user's single-use recovery codes.

use sea_orm::entity::prelude::*;

/// One recovery code.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recovery_codes")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Lowercase hex SHA-256 of the normalised code.
    pub code_hash: String,
    /// When it was used; a used code never works again.
    pub used_at: Option<DateTimeUtc>,
    /// When the set was generated.
    pub created_at: DateTimeUtc,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

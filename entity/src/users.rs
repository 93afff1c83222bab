//! `users`: end users of a tenant.

use sea_orm::entity::prelude::*;

/// One end user.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Primary key; also the OIDC `sub`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// Login name, lowercase, unique within the tenant.
    pub username: String,
    /// Email address, lowercase, unique within the tenant when present.
    pub email: Option<String>,
    /// Whether the email address has been verified.
    pub email_verified: bool,
    /// Argon2id PHC string of the password; none for password-less users.
    pub password_hash: Option<String>,
    /// Disabled users cannot log in.
    pub enabled: bool,
    /// When the user was created.
    pub created_at: DateTimeUtc,
    /// When the user was last changed.
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("users::Model")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// No relations are declared: rows are reached through `tenant_id` filters.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

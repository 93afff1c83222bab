//! `user_totp`: a user's TOTP seed (RFC 6238), encrypted at rest.

use sea_orm::entity::prelude::*;

/// One user's TOTP factor (at most one per user).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_totp")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The seed, encrypted with the keyring (`v1:<key id>:<b64>`).
    pub secret: String,
    /// When enrolment was confirmed by a first valid code; none while pending.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last time step accepted, so a code is never accepted twice.
    pub last_used_step: Option<i64>,
    /// When enrolment started.
    pub created_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("user_totp::Model")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .finish_non_exhaustive()
    }
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

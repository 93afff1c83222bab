//! `email_tokens`: single-use, short-lived tokens sent by email.

use sea_orm::entity::prelude::*;

/// One emailed token (password reset or email verification).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_tokens")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The user it acts for.
    pub user_id: Uuid,
    /// `password_reset` or `email_verification`.
    pub purpose: String,
    /// SHA-256 (hex) of the token; the token itself is only in the email.
    pub token_hash: String,
    /// The address the token was sent to.
    pub email: String,
    /// When it was issued.
    pub created_at: DateTimeUtc,
    /// When it stops working.
    pub expires_at: DateTimeUtc,
    /// When it was used (or superseded); set once.
    pub used_at: Option<DateTimeUtc>,
}

/// No relations are declared: rows are reached through `tenant_id` filters.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `passkeys`: a user's WebAuthn credentials (public keys only).

use sea_orm::entity::prelude::*;

/// One registered authenticator.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The credential id, base64url; unique within the tenant.
    pub credential_id: String,
    /// The user's name for it.
    pub name: String,
    /// The webauthn-rs `Passkey` (public key, counter, flags) as JSON.
    pub passkey: Json,
    /// When it was registered.
    pub created_at: DateTimeUtc,
    /// When it last signed in.
    pub last_used_at: Option<DateTimeUtc>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

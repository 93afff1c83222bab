//! `refresh_tokens`: single-use refresh tokens, rotated within a family.

use sea_orm::entity::prelude::*;

/// One refresh token (stored only as its SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning tenant.
    pub tenant_id: Uuid,
    /// The rotation family: every token descended from one code redemption.
    pub family_id: Uuid,
    /// Hex SHA-256 of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user it acts for.
    pub user_id: Uuid,
    /// Granted scope (space-delimited).
    pub scope: String,
    /// The APIs (identifiers, space-separated) of the grant (RFC 8707 §2); empty for
    /// a grant of no API.
    pub resources: String,
    /// The login session it came from.
    pub sid: Option<String>,
    /// When the user authenticated.
    pub auth_time: DateTimeUtc,
    /// Authentication methods (JSON array).
    pub amr: Json,
    /// Authentication context class.
    pub acr: Option<String>,
    /// When this token was issued.
    pub issued_at: DateTimeUtc,
    /// Idle expiry of this token.
    pub expires_at: DateTimeUtc,
    /// Absolute expiry of the family.
    pub family_expires_at: DateTimeUtc,
    /// When it was redeemed (rotated); a second use is reuse.
    pub used_at: Option<DateTimeUtc>,
    /// When its family was revoked.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

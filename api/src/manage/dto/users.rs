//! Users and their second factors.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, payload::Json, types::MaybeUndefined};
use tenancy::entity::users;
use uuid::Uuid;

/// Body of `create_user`.
#[derive(Clone, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login name (1–64 characters: letters, digits, . _ - @ +; case-insensitive).
    pub username: String,
    /// Email address (case-insensitive, unique in the tenant).
    pub email: Option<String>,
    /// Initial password (8–128 characters). Never returned.
    #[oai(write_only)]
    pub password: Option<String>,
    /// Whether the email address is already verified (default false).
    #[oai(default)]
    #[serde(default)]
    pub email_verified: bool,
}

/// Body of `update_user`; omitted fields keep their value.
#[derive(Clone, Debug, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New login name.
    pub username: Option<String>,
    /// New email address; `null` removes it. A changed address becomes unverified
    /// unless `email_verified` is also sent.
    #[serde(default)]
    #[oai(nullable)]
    pub email: MaybeUndefined<String>,
    /// Email verification flag.
    pub email_verified: Option<bool>,
    /// `false` disables the user (no logins).
    pub enabled: Option<bool>,
}

/// Body of `set_user_password`.
#[derive(Clone, Object, serde::Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The new password (8–128 characters).
    #[oai(write_only)]
    pub password: String,
}

/// An end user. Passwords are never returned.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserResponse {
    /// User id; also the OIDC `sub`.
    pub id: Uuid,
    /// Login name (lowercase).
    pub username: String,
    /// Email address (lowercase).
    pub email: Option<String>,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// Disabled users cannot log in.
    pub enabled: bool,
    /// Whether a password is set.
    pub has_password: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<users::Model> for UserResponse {
    fn from(u: users::Model) -> Self {
        Self {
            id: u.id,
            has_password: u.password_hash.is_some(),
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            enabled: u.enabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A page of users.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserPage {
    /// Users on this page, oldest first.
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `create_user` succeeded.
#[derive(ApiResponse)]
pub enum UserCreated {
    /// The new user.
    #[oai(status = 201)]
    Created(Json<UserResponse>),
}

/// One registered passkey (public information only).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PasskeyResponse {
    /// Passkey id.
    pub id: Uuid,
    /// The user's name for it.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A user's second factors.
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserFactorsResponse {
    /// Whether an authenticator app (TOTP) is set up.
    pub totp: bool,
    /// When the authenticator app was set up.
    pub totp_confirmed_at: Option<DateTime<Utc>>,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<PasskeyResponse>,
    /// Unused recovery codes.
    pub recovery_codes_remaining: u64,
}

impl From<tenancy::accounts::mfa::Factors> for UserFactorsResponse {
    fn from(f: tenancy::accounts::mfa::Factors) -> Self {
        Self {
            totp: f.totp,
            totp_confirmed_at: f.totp_confirmed_at,
            passkeys: f
                .passkeys
                .into_iter()
                .map(|p| PasskeyResponse {
                    id: p.id,
                    name: p.name,
                    created_at: p.created_at,
                    last_used_at: p.last_used_at,
                })
                .collect(),
            recovery_codes_remaining: f.recovery_codes_left,
        }
    }
}

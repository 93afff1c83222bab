//! Signing keys.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use tenancy::entity::signing_keys;

/// A tenant's signing key (public half only).
#[derive(Clone, Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SigningKeyResponse {
    /// JWS key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    /// The public key as a JWK.
    pub public_jwk: serde_json::Value,
    /// Generation time.
    pub created_at: DateTime<Utc>,
    /// When it started signing.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// For a `next` key: when it starts signing.
    pub activates_at: Option<DateTime<Utc>>,
    /// For a `current` key: when it is rotated automatically.
    pub rotates_at: Option<DateTime<Utc>>,
    /// For a `retired` key: when it leaves the JWKS.
    pub removed_at: Option<DateTime<Utc>>,
}

impl From<signing_keys::Model> for SigningKeyResponse {
    fn from(k: signing_keys::Model) -> Self {
        Self {
            kid: k.kid,
            alg: k.alg,
            state: k.state,
            public_jwk: k.public_jwk,
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            activates_at: k.activate_after,
            rotates_at: k.rotate_after,
            removed_at: k.remove_after,
        }
    }
}

/// A tenant's signing keys.
#[derive(Clone, Debug, Object)]
pub struct SigningKeyList {
    /// Keys, oldest first.
    pub items: Vec<SigningKeyResponse>,
}

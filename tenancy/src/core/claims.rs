//! The claims of an access token, shared by the token issuer and the memo of
//! verified tokens in the key store.

use serde::{Deserialize, Serialize};

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer: the tenant's issuer identifier.
    pub iss: String,
    /// Subject: the user id, or the client id for `client_credentials`.
    pub sub: String,
    /// Audience: the client the token was issued to (no resource indicators yet).
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Unique id, used for revocation.
    pub jti: String,
    /// When the user authenticated (absent for `client_credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The login session the token came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant (refresh-token family) the token was issued under, so revoking the
    /// grant revokes it too (RFC 7009 §2.1). Absent without a refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

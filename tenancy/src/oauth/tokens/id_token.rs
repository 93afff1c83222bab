//! ID tokens (OIDC Core §2, §3.1.3.6).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::{Result, core::Algorithm, keys::signing::TenantKeys};

/// The claims of an ID token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience: the client.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authentication context class: [`crate::core::amr::ACR_MFA`] for a multi-factor
    /// session, else `0` (no assurance claimed beyond a single factor).
    pub acr: String,
    /// Authentication methods (RFC 8176).
    pub amr: Vec<String>,
    /// Authorized party: the client.
    pub azp: String,
    /// Left half of the access token's SHA-256 (OIDC Core §3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Session id (OIDC Front-Channel Logout §3 / RP-Initiated Logout).
    pub sid: String,
}

/// `at_hash` (OIDC Core §3.1.3.6): base64url of the left half of the hash of the ASCII
/// access token, with the hash of the ID token's algorithm — SHA-256 for RS256, PS256
/// and ES256, SHA-512 for EdDSA over Ed25519.
pub fn at_hash(access_token: &str, alg: Algorithm) -> String {
    match alg {
        Algorithm::EdDsa => {
            let digest = Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(digest.get(..32).unwrap_or_default())
        }
        _ => {
            let digest = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(digest.get(..16).unwrap_or_default())
        }
    }
}

/// What an ID token says about the authentication.
#[derive(Clone, Debug)]
pub struct Authentication {
    /// User id.
    pub user_id: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Methods.
    pub amr: Vec<String>,
    /// Session id.
    pub sid: String,
    /// Nonce.
    pub nonce: Option<String>,
}

/// The claims of an ID token for `client_id`, without `at_hash`: that is filled in by
/// [`sign`] once the access token it covers is signed.
pub fn claims(
    issuer: &str,
    client_id: &str,
    auth: &Authentication,
    ttl_secs: u32,
    now: DateTime<Utc>,
) -> IdClaims {
    IdClaims {
        iss: issuer.to_owned(),
        sub: auth.user_id.clone(),
        aud: client_id.to_owned(),
        exp: now.timestamp() + i64::from(ttl_secs),
        iat: now.timestamp(),
        auth_time: auth.auth_time,
        nonce: auth.nonce.clone(),
        acr: crate::core::amr::acr_for(&auth.amr).into(),
        amr: auth.amr.clone(),
        azp: client_id.to_owned(),
        at_hash: None,
        sid: auth.sid.clone(),
    }
}

/// Signs an ID token, with the `at_hash` of the access token issued beside it, with
/// the tenant's preferred key.
pub fn sign(keys: &TenantKeys, claims: IdClaims, access_token: Option<&str>) -> Result<String> {
    sign_with(keys, None, claims, access_token)
}

/// Signs an ID token with the key of `alg` (the client's `id_token_signed_response_alg`,
/// OIDC Registration §2), else the preferred one; `at_hash` uses the hash of the
/// algorithm that signs (OIDC Core §3.1.3.6).
pub fn sign_with(
    keys: &TenantKeys,
    alg: Option<Algorithm>,
    mut claims: IdClaims,
    access_token: Option<&str>,
) -> Result<String> {
    let signing = keys.signing_alg_for(alg).unwrap_or(Algorithm::Rs256);
    claims.at_hash = access_token.map(|t| at_hash(t, signing));
    keys.sign_with(alg, "JWT", &claims)
}

//! The `client_credentials` grant (RFC 6749 §4.4): a confidential client gets an
//! access token for itself. No refresh token (RFC 6749 §4.4.3) and no OpenID Connect
//! scopes, since no user is involved.

use chrono::{DateTime, Utc};
use entity::clients;

use super::Minted;
use crate::{
    clients as registry,
    core::TenantSettings,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    core::scopes::ScopeSet,
    oauth::tokens::access::{self, Subject},
};

/// Scopes that only make sense with a user, refused for this grant.
const USER_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "address",
    "phone",
];

/// Decides the token of an authenticated confidential client (signed by the caller).
pub fn grant(
    issuer: &str,
    settings: &TenantSettings,
    client: &clients::Model,
    requested: Option<&str>,
    now: DateTime<Utc>,
) -> OAuthResult<Minted> {
    if client.client_type != "confidential"
        || !registry::grant_types(client)
            .iter()
            .any(|g| g == "client_credentials")
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        ));
    }
    let allowed = ScopeSet::from_tokens(
        registry::allowed_scopes(client)
            .into_iter()
            .filter(|s| !USER_SCOPES.contains(&s.as_str())),
    );
    // RFC 6749 §3.3: without a `scope` parameter, the default is everything allowed.
    let scope = match requested {
        Some(value) => ScopeSet::parse(value)?,
        None => allowed.clone(),
    };
    let refused = scope.missing_from(&allowed);
    if !refused.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope not allowed for this client: {}", refused.join(" ")),
        ));
    }
    let subject = Subject {
        id: client.client_id.clone(),
        auth_time: None,
        sid: None,
        grant_id: None,
    };
    let access = access::claims(
        issuer,
        &client.client_id,
        &subject,
        &scope,
        settings.access_token_ttl_secs,
        now,
    )?;
    Ok(Minted {
        access,
        id: None,
        refresh_token: None,
        expires_in: settings.access_token_ttl_secs,
    })
}

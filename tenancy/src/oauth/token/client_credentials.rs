//! The `client_credentials` grant (RFC 6749 §4.4): a confidential client gets an
//! access token for itself. No refresh token (RFC 6749 §4.4.3) and no OpenID Connect
//! scopes, since no user is involved.
//!
//! For an API (the `resource` named, RFC 8707 §2, or the tenant's default API) the
//! client needs a client grant for it, and gets at most the scopes granted there;
//! without one the answer is `invalid_target`. For no API, the client's registered
//! scopes are what it may get (a token of the UserInfo audience, which no API accepts).

use chrono::{DateTime, Utc};
use entity::clients;
use sea_orm::ConnectionTrait;

use super::{AccessForm, Minted, access_ttl};
use crate::{
    clients as registry,
    core::claims::Audience,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    core::scopes::ScopeSet,
    oauth::audience::userinfo_audience,
    oauth::tokens::access::{self, Subject},
    tenants::directory::Resolved,
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

/// Decides the token of an authenticated confidential client for `resource` (signed
/// by the caller).
pub async fn grant(
    db: &impl ConnectionTrait,
    issuer: &str,
    tenant: &Resolved,
    client: &clients::Model,
    requested: Option<&str>,
    resource: Option<&str>,
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
    let catalog = tenant.apis(db).await?;
    let named: Vec<String> = resource.map(str::to_owned).into_iter().collect();
    let api = crate::oauth::audience::requested_apis(&catalog, &tenant.settings, &named)?
        .into_iter()
        .next();
    let (allowed, audience) = match &api {
        Some(api) => {
            let granted = tenant
                .client_grant(db, &client.client_id, api.id)
                .await?
                .ok_or_else(|| {
                    OAuthError::new(
                        ErrorCode::InvalidTarget,
                        "this client has no grant for the resource",
                    )
                })?;
            (
                ScopeSet::from_tokens(granted.iter()),
                Audience::one(api.identifier.clone()),
            )
        }
        None => (
            ScopeSet::from_tokens(
                registry::allowed_scopes(client)
                    .into_iter()
                    .filter(|s| !USER_SCOPES.contains(&s.as_str())),
            ),
            Audience::one(userinfo_audience(issuer)),
        ),
    };
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
    let ttl = access_ttl(&tenant.settings, api.as_deref());
    let access = access::claims(
        issuer,
        &client.client_id,
        &subject,
        audience,
        &scope,
        ttl,
        now,
    )?;
    Ok(Minted {
        access,
        id: None,
        refresh_token: None,
        expires_in: ttl,
        form: AccessForm::of(api.as_deref()),
        id_alg: None,
    })
}

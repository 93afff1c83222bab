//! `GET|POST /t/{slug}/userinfo` (OIDC Core §5.3) with RFC 6750 bearer tokens.

use poem::{
    IntoResponse, Request, Response, handler,
    web::{Data, Path},
};
use tenancy::{
    core::TenantCtx,
    core::oauth_error::{ErrorCode, OAuthError, OAuthResult},
    core::scopes::ScopeSet,
    oauth::tokens::access,
    oauth::tokens::userinfo as user_claims,
};

use crate::{error::oauth_error_response, oauth::no_store_json, protocol, state::AppState};

/// The UserInfo endpoint.
#[handler]
pub async fn userinfo(state: Data<&AppState>, Path(slug): Path<String>, req: &Request) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    match run(&state, &issuer, req).await {
        Ok(claims) => no_store_json(claims),
        Err(err) => oauth_error_response(&err),
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

async fn run(
    state: &AppState,
    issuer: &protocol::Issuer,
    req: &Request,
) -> OAuthResult<serde_json::Value> {
    let invalid = |msg: &str| OAuthError::new(ErrorCode::InvalidToken, msg);
    let token = bearer(req).ok_or_else(|| invalid("a bearer access token is required"))?;
    let claims = access::verify(
        &issuer.keys,
        state.cache.as_ref(),
        issuer.tenant().id,
        &issuer.url,
        token,
        state.now(),
    )
    .await?
    .map_err(|_| invalid("the access token is invalid, expired or revoked"))?;
    // A token for an API, without the UserInfo audience, is not for this endpoint.
    if !claims
        .aud
        .contains(&tenancy::oauth::audience::userinfo_audience(&issuer.url))
    {
        return Err(invalid("the access token is not for the UserInfo endpoint"));
    }
    let scope = ScopeSet::parse(&claims.scope)?;
    if !scope.contains("openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the token lacks the openid scope",
        ));
    }
    user_claims::claims(
        state.db(),
        &TenantCtx::from(issuer.tenant()),
        &claims.sub,
        &scope,
    )
    .await?
    .ok_or_else(|| invalid("the user is no longer active"))
}

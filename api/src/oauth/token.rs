//! `POST /t/{slug}/token` (RFC 6749 §3.2): parses the form, checks the client's rate
//! limit (429 with `Retry-After`), and hands the request to the token endpoint's one
//! door, `tenancy::oauth::token::exchange`, which authenticates the client, runs and
//! audits the grant and commits it.

use poem::{
    Body, IntoResponse, Request, Response, handler,
    web::{Data, Path},
};
use tenancy::oauth::token::exchange::{GrantType, TokenRequest};

use super::{form, no_store_json, read_form};
use crate::{
    error::{oauth_error_response, oauth_too_many},
    login_limit, protocol,
    state::AppState,
};

/// The token endpoint.
#[handler]
pub async fn token(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve_request(&state, req, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let request = match parse(&state, req, body).await {
        Ok(request) => request,
        Err(err) => return oauth_error_response(&err),
    };
    let client = request
        .credentials
        .as_ref()
        .ok()
        .map(|c| (issuer.tenant().id, c.client_id().to_owned()));
    if let Some(client) = &client
        && let Some(wait) = login_limit::check(&state.token_limiter, client)
    {
        state.metrics.throttled.with_label_values(&["token"]).inc();
        return oauth_too_many(wait);
    }
    let grant_type = request.grant_type;
    match state.tokens.exchange(&issuer, request, state.now()).await {
        Ok(response) => {
            state
                .metrics
                .tokens_issued
                .with_label_values(&[grant_type.as_str()])
                .inc();
            no_store_json(response)
        }
        Err(err) => oauth_error_response(&err),
    }
}

/// The form as a [`TokenRequest`]: `grant_type` is checked first, so an unsupported
/// grant costs no client lookup.
async fn parse(
    state: &AppState,
    req: &Request,
    body: Body,
) -> tenancy::core::oauth_error::OAuthResult<TokenRequest> {
    let params = read_form(req, body, state.settings.max_body_bytes).await?;
    let grant_type = GrantType::parse(params.require("grant_type")?)?;
    let credentials = form::client_credentials(req.headers(), &params);
    let ip = crate::client_ip::client_ip(req, &state.settings.trusted_proxies);
    let claimed = credentials.as_ref().map_or_else(
        |_| "anonymous".to_owned(),
        |c| format!("client:{}", c.client_id()),
    );
    let owned = |name: &str| params.get(name).map(str::to_owned);
    Ok(TokenRequest {
        grant_type,
        actor: crate::client_ip::actor(req, ip, claimed),
        credentials,
        code: owned("code"),
        redirect_uri: owned("redirect_uri"),
        code_verifier: owned("code_verifier"),
        refresh_token: owned("refresh_token"),
        scope: owned("scope"),
        resources: params.all("resource").to_vec(),
    })
}

//! `POST /t/{slug}/revoke` (RFC 7009).

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use tenancy::core::oauth_error::OAuthResult;

use super::{authenticate_client, read_form};
use crate::{error::oauth_error_response, protocol, state::AppState};

/// The revocation endpoint: 200 whether or not the token was live (RFC 7009 §2.2).
#[handler]
pub async fn revoke(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve_request(&state, req, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    match run(&state, &issuer, req, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(err) => oauth_error_response(&err),
    }
}

async fn run(
    state: &AppState,
    issuer: &protocol::Issuer,
    req: &Request,
    body: Body,
) -> OAuthResult<()> {
    let params = read_form(req, body, state.settings.max_body_bytes).await?;
    let client = authenticate_client(state, issuer, req, &params).await?;
    let token = params.require("token")?;
    tenancy::oauth::tokens::revocation::revoke(
        state.db(),
        &tenancy::core::TenantCtx::from(issuer.tenant()),
        &issuer.keys,
        state.cache.as_ref(),
        &issuer.url,
        &client,
        token,
        state.now(),
    )
    .await?;
    Ok(())
}

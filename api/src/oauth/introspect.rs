//! `POST /t/{slug}/introspect` (RFC 7662): authenticated confidential clients only
//! (RFC 7662 §2.1; discovery's `introspection_endpoint_auth_methods_supported` lists
//! `client_secret_basic` and `client_secret_post`, never `none`).

use poem::{
    Body, IntoResponse, Request, Response, handler,
    web::{Data, Path},
};
use tenancy::core::oauth_error::OAuthResult;

use super::{authenticate_confidential_client, no_store_json, read_form};
use crate::{error::oauth_error_response, protocol, state::AppState};

/// The introspection endpoint.
#[handler]
pub async fn introspect(
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
        Ok(value) => no_store_json(value),
        Err(err) => oauth_error_response(&err),
    }
}

async fn run(
    state: &AppState,
    issuer: &protocol::Issuer,
    req: &Request,
    body: Body,
) -> OAuthResult<serde_json::Value> {
    let params = read_form(req, body, state.settings.max_body_bytes).await?;
    authenticate_confidential_client(state, issuer, req, &params).await?;
    let token = params.require("token")?;
    Ok(tenancy::oauth::tokens::introspection::introspect(
        state.db(),
        &tenancy::core::TenantCtx::from(issuer.tenant()),
        &issuer.keys,
        state.cache.as_ref(),
        &issuer.url,
        token,
        state.now(),
    )
    .await?)
}

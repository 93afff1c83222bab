//! `POST /t/{slug}/token` (RFC 6749 §3.2).

use poem::{
    Body, IntoResponse, Request, Response, handler,
    web::{Data, Path},
};
use tenancy::{
    grants,
    oauth_error::{ErrorCode, OAuthError, OAuthResult},
};

use super::{authenticate_client, no_store_json, read_form};
use crate::{error::oauth_error_response, protocol, state::AppState};

/// The token endpoint.
#[handler]
pub async fn token(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    match exchange(&state, &issuer, req, body).await {
        Ok(response) => no_store_json(response),
        Err(err) => oauth_error_response(&err),
    }
}

async fn exchange(
    state: &AppState,
    issuer: &protocol::Issuer,
    req: &Request,
    body: Body,
) -> OAuthResult<grants::TokenResponse> {
    let params = read_form(req, body).await?;
    let grant_type = params.require("grant_type")?.to_owned();
    let client = authenticate_client(state, issuer, req, &params).await?;
    match grant_type.as_str() {
        "client_credentials" => grants::client_credentials::grant(
            &issuer.keys,
            &issuer.url,
            &issuer.settings,
            &client,
            params.get("scope"),
            state.now(),
        ),
        // OAuth 2.1 drops the implicit and password grants entirely.
        other => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type '{other}' is not supported"),
        )),
    }
}

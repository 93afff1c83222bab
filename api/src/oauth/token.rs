//! `POST /t/{slug}/token` (RFC 6749 §3.2).

use poem::{
    Body, IntoResponse, Request, Response, handler,
    web::{Data, Path},
};
use tenancy::{
    grants::{
        self, GrantCtx,
        authorization_code::{self, CodeRedemption},
        refresh_token,
    },
    oauth_error::{ErrorCode, OAuthError, OAuthResult},
    tenants::TenantCtx,
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
    let params = read_form(req, body, state.settings.max_body_bytes).await?;
    let grant_type = params.require("grant_type")?.to_owned();
    let client = authenticate_client(state, issuer, req, &params).await?;
    let ctx = GrantCtx {
        db: &state.db,
        cache: state.cache.as_ref(),
        keys: &issuer.keys,
        issuer: &issuer.url,
        tenant: TenantCtx::from(&issuer.tenant),
        settings: &issuer.settings,
        now: state.now(),
    };
    match grant_type.as_str() {
        "authorization_code" => {
            let input = CodeRedemption {
                code: params.require("code")?,
                redirect_uri: params.get("redirect_uri"),
                code_verifier: params.get("code_verifier"),
            };
            authorization_code::grant(&ctx, &client, input).await
        }
        "refresh_token" => {
            refresh_token::grant(
                &ctx,
                &client,
                params.require("refresh_token")?,
                params.get("scope"),
            )
            .await
        }
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

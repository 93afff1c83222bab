//! `GET|POST /t/{slug}/authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2.1).

use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{Method, StatusCode},
    web::{Data, Path},
};
use tenancy::{
    accounts::sessions,
    core::TenantCtx,
    oauth::authorization::{self, AuthorizeError, AuthorizeParams},
    oauth::interactions::{self, Interaction},
};

use super::{error_page, flow, set_session_cookie};
use crate::{oauth::form::Params, protocol, state::AppState};

fn params_of(p: &Params) -> AuthorizeParams {
    let get = |k: &str| p.get(k).map(str::to_owned);
    AuthorizeParams {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        scope: get("scope"),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        login_hint: get("login_hint"),
        acr_values: get("acr_values"),
        resources: p.all("resource").to_vec(),
    }
}

/// The authorization endpoint.
#[handler]
pub async fn authorize(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let issuer = match protocol::resolve(&state, &slug).await {
        Ok(issuer) => issuer,
        Err(unresolved) => return unresolved.into_response(),
    };
    let tenant_name = issuer.tenant().display_name.clone();
    let raw = if req.method() == Method::POST {
        match body.into_bytes_limit(state.settings.max_body_bytes).await {
            Ok(b) => b.to_vec(),
            Err(_) => {
                return error_page(
                    &tenant_name,
                    StatusCode::BAD_REQUEST,
                    "The request is too large.",
                );
            }
        }
    } else {
        req.uri().query().unwrap_or_default().as_bytes().to_vec()
    };
    // A malformed query (repeated or oversized parameters) cannot be trusted to name a
    // redirect URI, so it gets the error page (RFC 6749 §4.1.2.1). Control characters
    // in values are judged by `authorization::validate`, which redirects once the
    // client and redirect URI are known to be good.
    let params = match Params::parse_allowing_control(&raw) {
        Ok(p) => p,
        Err(err) => return error_page(&tenant_name, StatusCode::BAD_REQUEST, &err.description),
    };
    let tenant = TenantCtx::from(issuer.tenant());
    let request =
        match authorization::validate(state.db(), issuer.resolved(), &params_of(&params)).await {
            Ok(request) => request,
            Err(AuthorizeError::Page(message)) => {
                return error_page(&tenant_name, StatusCode::BAD_REQUEST, &message);
            }
            Err(AuthorizeError::Redirect {
                redirect_uri,
                state: s,
                error,
            }) => {
                return flow::redirect_error_to(&issuer, &redirect_uri, s.as_deref(), &error);
            }
            Err(AuthorizeError::Failed(err)) => return flow::unavailable(&issuer, &err),
        };
    let cache = state.cache.as_ref();
    // An anonymous session lives only as long as a sign-in may take, so drive-by
    // traffic cannot fill the cache; login replaces it with a full-length one.
    let ttl = interactions::INTERACTION_TTL;
    let (new_cookie, session) = match flow::current_session(&state, &issuer, req).await {
        Ok(Some((_, session))) => (None, session),
        Ok(None) => match sessions::start(cache, tenant.id, ttl).await {
            Ok((cookie, session)) => (Some(cookie), session),
            Err(err) => return flow::unavailable(&issuer, &err),
        },
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let interaction = Interaction {
        request,
        sid: session.sid.clone(),
    };
    let id = match interactions::save_for_session(cache, tenant.id, &interaction).await {
        Ok(id) => id,
        Err(err) => return flow::unavailable(&issuer, &err),
    };
    let mut resp = flow::resume(&state, &issuer, &id, interaction, Some(&session)).await;
    if let Some(cookie) = new_cookie {
        set_session_cookie(&mut resp, &state.settings, &slug, &cookie, ttl.as_secs());
    }
    resp
}

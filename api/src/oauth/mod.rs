//! OAuth 2.1 protocol endpoints of a tenant (`/t/{slug}/...`): token, introspection,
//! revocation. Each handler parses the request, makes one domain call and maps the
//! result; errors are RFC 6749 §5.2 JSON from [`crate::error::oauth_error_response`].

pub mod form;
pub mod introspect;
pub mod revoke;
pub mod token;

use poem::{
    Body, IntoResponse, Request, Response,
    http::{HeaderValue, header},
};
use tenancy::{
    core::oauth_error::{OAuthError, OAuthResult},
    entity::clients,
};

use crate::{protocol::Issuer, state::AppState};

/// A JSON protocol response that must never be cached (RFC 6749 §5.1).
pub fn no_store_json<T: serde::Serialize + Send>(value: T) -> Response {
    let mut resp = poem::web::Json(value).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Reads a form-encoded protocol request body (RFC 6749 §3.2).
pub async fn read_form(
    req: &Request,
    body: Body,
    limit: usize,
) -> OAuthResult<std::sync::Arc<form::Params>> {
    let is_form = req
        .content_type()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| {
            ct.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if let Some(form::ParsedForm(params)) = req.extensions().get::<form::ParsedForm>() {
        return Ok(std::sync::Arc::clone(params));
    }
    let bytes = body
        .into_bytes_limit(limit)
        .await
        .map_err(|_| OAuthError::invalid_request("the request body is too large or unreadable"))?;
    form::Params::parse(&bytes).map(std::sync::Arc::new)
}

/// Authenticates the client of a form request (RFC 6749 §2.3.1).
pub async fn authenticate_client(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
    params: &form::Params,
) -> OAuthResult<clients::Model> {
    let credentials = form::client_credentials(req.headers(), params)?;
    tenancy::oauth::client_auth::authenticate(
        state.db(),
        issuer.resolved(),
        &state.secret_memo,
        &credentials,
        state.now(),
    )
    .await
}

/// Authenticates a confidential client of a form request (RFC 7662 §2.1: the
/// introspection endpoint requires client authentication; public clients are refused).
pub async fn authenticate_confidential_client(
    state: &AppState,
    issuer: &Issuer,
    req: &Request,
    params: &form::Params,
) -> OAuthResult<clients::Model> {
    let credentials = form::client_credentials(req.headers(), params)?;
    tenancy::oauth::client_auth::authenticate_confidential(
        state.db(),
        issuer.resolved(),
        &state.secret_memo,
        &credentials,
        state.now(),
    )
    .await
}

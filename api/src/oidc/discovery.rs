//! Provider metadata: OIDC Discovery 1.0 at `{issuer}/.well-known/openid-configuration`
//! and RFC 8414 at `/.well-known/oauth-authorization-server/t/{slug}`.
//!
//! Both documents are built from the configured issuer, so `issuer` equals the `iss`
//! of every token exactly (OIDC Discovery §4.3, RFC 8414 §3.3). They advertise only
//! what is implemented.

use poem::{
    IntoResponse, Response, handler,
    http::{HeaderValue, header},
    web::{Data, Path},
};
use serde_json::{Value, json};

use crate::{protocol, state::AppState};

/// How long clients may cache the metadata.
const MAX_AGE_SECS: u32 = 300;

/// The metadata shared by both documents.
pub fn metadata(issuer: &str, signing_algs: &[String]) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "jwks_uri": format!("{issuer}/jwks.json"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        // RFC 7662 §2.1: introspection only for authenticated confidential clients
        // (`client_auth::authenticate_confidential`), so never `none`.
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        // RFC 7636 §4.2 via OAuth 2.1: S256 only, never `plain`.
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207 §3.
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
                             "name", "preferred_username", "email", "email_verified"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        // OIDC Discovery §3; the values are documented in tenancy::accounts::mfa.
        "acr_values_supported": tenancy::core::amr::ACR_VALUES_SUPPORTED,
    })
}

fn cached_json(value: &Value) -> Response {
    let mut resp = poem::web::Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECS}")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

async fn document(state: &AppState, slug: &str) -> Response {
    match protocol::resolve(state, slug).await {
        Ok(issuer) => cached_json(&metadata(&issuer.url, &issuer.settings().signing_algs)),
        Err(unresolved) => unresolved.into_response(),
    }
}

/// `GET /t/{slug}/.well-known/openid-configuration`.
#[handler]
pub async fn openid_configuration(state: Data<&AppState>, Path(slug): Path<String>) -> Response {
    document(&state, &slug).await
}

/// `GET /.well-known/oauth-authorization-server/t/{slug}` (RFC 8414 §3: the
/// well-known segment goes between the host and the issuer's path).
#[handler]
pub async fn oauth_authorization_server(
    state: Data<&AppState>,
    Path(slug): Path<String>,
) -> Response {
    document(&state, &slug).await
}
